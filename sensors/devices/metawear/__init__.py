"""MbientLab MetaMotion S (BMI270) and MetaMotion R / RL (BMI160) over the MetaWear
protocol (see ``protocol.py``).

Connection (commands written without response; answers arrive as notifications):

1. subscribe to the notify characteristic; read the accelerometer's and gyroscope's
   module info (which chip) and, for model "5", whether an ambient light sensor is
   there (MetaMotion R) or not (RL);
2. first connection: remove all data processors (a clean slate), stop both sensors, ask
   for a 7.5 ms connection interval, configure output rate and range of both;
3. build the data processor chain gyroscope -> buffer; accelerometer + buffer -> fuser ->
   accounter (count): every notification is one accelerometer sample, the gyroscope
   sample taken with it, and a 32-bit counter;
4. enable the accounter's notifications, enable sampling, start gyroscope then
   accelerometer. After a reconnect the chain is still on the board: only the
   notifications are enabled again (the counter has kept counting).
5. at the end: stop both sensors, disable notifications, remove the processors.

Loss accounting: the counter is the sample index (one sample per notification), so every
lost notification is a gap, also across a reconnect. A fresh chain counts 1, 2, 3, ...
(the SDK's ``accounter.h`` said so in earlier releases; the current one says "a packet
counter"): a first count above 1 shows the notifications lost before it. What cannot be
detected: a notification lost after the last one that arrives before the stop (nothing
follows it); and, should a board count from 0, the loss of its very first notification.
The plain and packed data registers carry no counter, so the driver does not use them,
although packed mode (3 samples per notification) needs fewer notifications: at 200 Hz
the counted stream sends 200 notifications per second, which needs the 7.5 ms
connection interval the driver asks for.

Time: streamed MetaWear samples carry no time. :attr:`Frame.sensor_time_s` is
``count / rate``; the stream's clock model (lower envelope of arrival times) maps it to
host time, fitting the offset and the difference between the IMU's own sample clock and
the host's (allowed up to 2 %: the vendor states no ODR tolerance). The samples then lie
on a uniform grid that is right to within the jitter of the envelope (well under a
millisecond over a minute of packets) but shifted by the minimal delay from sampling to
arrival, which is not observable: up to about one connection interval (7.5-30 ms) more
than for a device with its own timestamps. Compare MetaWear times with other sensors'
to within that.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sensors.devices import register_driver, register_twin
from sensors.devices.base import (
    STANDARD_GRAVITY_MPS2,
    DecodeError,
    DeviceConfig,
    DriverError,
    Frame,
    Notify,
    SensorDriver,
    StreamDecoder,
    read_device_information,
    subscribe,
)
from sensors.devices.metawear import protocol as mw

if TYPE_CHECKING:
    from bleak import BleakClient

logger = logging.getLogger(__name__)

#: The one notification channel.
NOTIFY = 0
_DEG = np.pi / 180.0


class MetaWearDecoder(StreamDecoder):
    """Fused + counted notifications -> one-sample frames indexed by the counter."""

    def __init__(self, config: DeviceConfig) -> None:
        self.config = config
        self.rate = float(config.sampling_rate_hz)
        self.acc_scale = STANDARD_GRAVITY_MPS2 / mw.acc_counts_per_g(config.acc_range_g)
        self.gyr_scale = _DEG / mw.GYRO_COUNTS_PER_DPS[float(config.gyro_range_dps)]
        pid = config.options.get("accounter_id")
        self.accounter_id: int | None = None if pid is None else int(pid)
        self.last: int | None = None  # last unwrapped count
        self.shift = 0

    def feed(self, channel: int, data: bytes) -> list[Frame]:
        """Only ``[0x09, 0x03, id, ...]`` notifications of the accounter hold samples."""
        if len(data) < 3 or data[0] != mw.DATA_PROCESSOR or data[1] != mw.DP_NOTIFY:
            return []
        if self.accounter_id is not None and data[2] != self.accounter_id:
            return []
        try:
            pid, count, acc, gyr = mw.decode_counted(data)
        except mw.MetaWearError as exc:
            raise DecodeError(str(exc)) from None
        self.accounter_id = pid
        if self.last is None:
            idx = count
        else:
            step = (count - self.last) % (1 << 32)
            if step >= 1 << 31:
                step -= 1 << 32
            idx = self.last + step
        self.last = max(idx, self.last) if self.last is not None else idx
        index = idx + self.shift
        return [
            Frame(
                int(index),
                (acc * self.acc_scale)[None, :],
                (gyr * self.gyr_scale)[None, :],
                np.array([index / self.rate]),
            )
        ]

    def sensor_time_s(self, index: int) -> float:
        """The arrival-time model's device time: ``index / rate``."""
        return int(index) / self.rate

    def rebase(self, frame: Frame, first_index: int) -> Frame:
        """The counter restarted (board reset): continue the index from ``first_index``."""
        self.shift += int(first_index) - frame.first_index
        frame.first_index = int(first_index)
        frame.sensor_time_s = np.array([first_index / self.rate])
        return frame


@register_driver
class MetaMotionDriver(SensorDriver):
    """MbientLab MetaMotion S / R / RL (see the module docstring)."""

    decoder: MetaWearDecoder  # what new_decoder makes

    kind = "metamotion"
    vendor = "MbientLab"
    default_model = "MetaMotion"
    timestamps = "arrival times"
    max_drift_ppm = 20000.0
    rates_hz = (25.0, 50.0, 100.0, 200.0)
    acc_ranges_g = (2.0, 4.0, 8.0, 16.0)
    gyro_ranges_dps = (125.0, 250.0, 500.0, 1000.0, 2000.0)
    detects_loss_at_end = False
    detects_loss_at_start = True
    scan_service_uuids: ClassVar[tuple[str, ...]] = (mw.SERVICE_UUID,)

    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(config)
        self.acc_chip: int | None = None
        self.gyro_chip: int | None = None
        self.accounter_id: int | None = None
        self._fresh = False

    @classmethod
    def matches(
        cls, name: str | None, service_uuids: list[str], manufacturer_data: Mapping[int, bytes]
    ) -> bool:
        """The MetaWear service UUID, or the name ``MetaWear``."""
        return mw.SERVICE_UUID in service_uuids or (name or "").startswith("MetaWear")

    @classmethod
    def new_decoder(cls, config: DeviceConfig) -> MetaWearDecoder:
        """A counted-sample decoder for this configuration."""
        return MetaWearDecoder(config)

    def header_config(self) -> dict[str, Any]:
        """Rate, ranges, chips and the accounter's processor id once known."""
        d = self.config.to_dict()
        for key, value in (
            ("accounter_id", self.accounter_id),
            ("acc_chip", self.acc_chip),
            ("gyro_chip", self.gyro_chip),
        ):
            if value is not None:
                d[key] = value
        return d

    async def _write(self, data: bytes) -> None:
        await self._connected().write_gatt_char(mw.COMMAND_UUID, data, response=False)

    async def _ask(self, data: bytes, answer: tuple[int, int], timeout_s: float = 3.0) -> bytes:
        """Write a command and wait for the notification starting with ``answer``."""
        return await self._round_trip(
            answer, self._write(data), timeout_s, f"MetaWear command {data.hex()}"
        )

    async def _module(self, module: int) -> mw.ModuleInfo:
        return mw.decode_module_info(
            await self._ask(mw.read_module_info(module), (module, mw.MODULE_INFO))
        )

    async def read_info(self, client: BleakClient) -> dict[str, Any]:
        """Device Information (model number "8" = MetaMotion S, "5" = R/RL)."""
        self.info = await read_device_information(client)
        number = str(self.info.pop("model_number", "") or "").strip()
        self.info["model_number"] = number
        self.info["model"] = mw.MODEL_NUMBERS.get(number, f"MetaWear (model {number or '?'})")
        return self.info

    async def start(self, client: BleakClient, notify: Notify, *, resume: bool) -> None:
        """Module checks, configuration, processor chain, start (module docstring)."""
        self._client = client
        await subscribe(client, mw.NOTIFY_UUID, NOTIFY, notify)
        if resume and self.accounter_id is not None:
            await self._write(mw.processor_notify(self.accounter_id, True))
            await self._write(mw.notify_subscribe(True))
            return
        acc = await self._module(mw.ACC)
        gyr = await self._module(mw.GYRO)
        if not acc.present or acc.implementation not in (mw.ACC_BMI160, mw.ACC_BMI270):
            raise DriverError("this MetaWear has no BMI160/BMI270 accelerometer")
        if not gyr.present or gyr.implementation not in (mw.GYRO_BMI160, mw.GYRO_BMI270):
            raise DriverError("this MetaWear has no BMI160/BMI270 gyroscope")
        self.acc_chip, self.gyro_chip = acc.implementation, gyr.implementation
        if self.info.get("model_number") == "5":
            light = await self._module(mw.AMBIENT_LIGHT)
            self.info["model"] = "MetaMotion R" if light.present else "MetaMotion RL"
        with contextlib.suppress(DriverError, mw.MetaWearError):
            charge, _mv = mw.decode_battery(
                await self._ask(mw.read_battery(), (mw.SETTINGS, mw.SETTINGS_BATTERY | mw.READ))
            )
            self.battery_pct = int(charge)
        cfg = self.config
        for cmd in (
            mw.remove_all_processors(),
            mw.power(mw.ACC, False),
            mw.power(mw.GYRO, False),
            mw.sampling(mw.ACC, False),
            mw.sampling(mw.GYRO, False),
            mw.connection_parameters(7.5, 7.5, 0, 6000),
            mw.acc_config(self.acc_chip, cfg.sampling_rate_hz, cfg.acc_range_g),
            mw.gyro_config(cfg.sampling_rate_hz, cfg.gyro_range_dps),
        ):
            await self._write(cmd)
        created = (mw.DATA_PROCESSOR, mw.DP_ADD)
        buf = (await self._ask(mw.buffer_processor(self.gyro_chip), created))[2]
        fuser = (await self._ask(mw.fuser_processor(buf), created))[2]
        counter = (await self._ask(mw.accounter_count_processor(fuser), created))[2]
        self.accounter_id = counter
        self.decoder.accounter_id = counter
        self._fresh = True
        for cmd in (
            mw.processor_notify(counter, True),
            mw.notify_subscribe(True),
            mw.sampling(mw.GYRO, True),
            mw.sampling(mw.ACC, True),
            mw.power(mw.GYRO, True),
            mw.power(mw.ACC, True),
        ):
            await self._write(cmd)

    async def stop(self, client: BleakClient) -> int | None:
        """Stop both sensors, notifications off, remove the processors."""
        import asyncio  # here: reading a recording loads the drivers, not the loop

        cmds = [mw.power(mw.ACC, False), mw.power(mw.GYRO, False)]
        cmds += [mw.sampling(mw.ACC, False), mw.sampling(mw.GYRO, False)]
        if self.accounter_id is not None:
            cmds.append(mw.processor_notify(self.accounter_id, False))
        cmds.append(mw.remove_all_processors())
        for cmd in cmds:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._write(cmd), 1.0)
        self.accounter_id = None
        return None

    def fresh_start(self) -> tuple[str, int] | None:
        """A chain built at this start counts from 1."""
        return ("index", 1) if self._fresh else None

    def on_notification(self, channel: int, data: bytes) -> None:
        """Answers to reads and processor creation resolve the waiting command."""
        if len(data) < 2:
            return
        if data[0] == mw.SETTINGS and (data[1] & 0x3F) == mw.SETTINGS_BATTERY:
            with contextlib.suppress(mw.MetaWearError):
                self.battery_pct = mw.decode_battery(data)[0]
            # the answer to a read may come with or without the "silent" bit 0x40
            self._answer((mw.SETTINGS, mw.SETTINGS_BATTERY | mw.READ), bytes(data))
            return
        self._answer((data[0], data[1]), bytes(data))


register_twin("metamotion", "sensors.devices.metawear.twin:metamotion_twin")
