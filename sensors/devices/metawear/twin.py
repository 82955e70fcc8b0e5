"""A virtual MbientLab MetaMotion S: a Bumble GATT server speaking the MetaWear protocol.

Services: MetaWear (command: write without response; notify), Device Information (model
number "8", firmware "1.7.3"). It advertises the MetaWear service UUID and the name
``MetaWear`` (the boards' default name: several twins share it and differ by address).

Behaviour (from MbientLab's material where it says, else stated as the twin's choice):

* module info: accelerometer BMI270 (``03 80 04 00``), gyroscope BMI270 (``13 80 01 00``),
  data processor, settings (values of the SDK's MetaMotion S test board); ambient light
  absent (2-byte answer);
* configuration, power and data interrupt commands of both sensors; rates 25-200 Hz;
* data processors: buffer (gyroscope), fuser (accelerometer + buffer) and accounter
  (count) are created with ``[0x09, 0x02, id]`` answers (ids from 0); other processor
  types are not answered;
* streaming: once both sensors run and the accounter's notifications are on, every
  accelerometer sample is one 19-byte notification ``[09 03 id count acc gyro]``; the
  count is 1, 2, 3, ... from the chain's creation (as the SDK's accounter.h described it
  in earlier releases) and goes on while no central listens (``undelivered``), so a
  reconnect shows the outage as a count jump;
* battery: ``[0x11, 0xCC]`` answers ``[0x11, 0x8C, percent, millivolts]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bumble.device import Connection
from bumble.gatt import Characteristic, Service

from sensors.devices.base import STANDARD_GRAVITY_MPS2
from sensors.devices.metawear import protocol as mw
from sensors.virtual_wearable import (
    VirtualSensor,
    device_information_service,
    notify_only_characteristic,
    service_advertising,
    writable_characteristic,
)

_ODR_HZ = {code: hz for hz, code in mw.ODR_CODE.items()}
_BMI270_RANGE_G = {code: g for g, code in mw.ACC_RANGE_CODE[mw.ACC_BMI270].items()}
_GYRO_RANGE = {code: dps for dps, code in mw.GYRO_RANGE_CODE.items()}
_MODULE_INFO = {
    mw.ACC: bytes([mw.ACC, 0x80, mw.ACC_BMI270, 0x00]),
    mw.GYRO: bytes([mw.GYRO, 0x80, mw.GYRO_BMI270, 0x00]),
    mw.DATA_PROCESSOR: bytes([mw.DATA_PROCESSOR, 0x80, 0x00, 0x00, 0x1C]),
    mw.SETTINGS: bytes([mw.SETTINGS, 0x80, 0x00, 0x0A, 0x07, 0x00]),
}


class MetaWearTwin(VirtualSensor):
    """A virtual MetaMotion S (module docstring)."""

    kind = "metamotion"
    firmware_version = "1.7.3"

    def __init__(self, link: Any, name: str, address: str, **kw: Any) -> None:
        kw.pop("config", None)
        super().__init__(link, name, address, **kw)
        self.acc_range_g = 8.0
        self.gyro_range_dps = 2000.0
        self.gyro_rate_hz = self.rate_hz
        # per module (mw.ACC, mw.GYRO): powered on, data interrupt enabled
        self.powered = {mw.ACC: False, mw.GYRO: False}
        self.interrupt = {mw.ACC: False, mw.GYRO: False}
        self.processors: dict[int, tuple[int, bytes]] = {}  # id -> (type, command)
        self.notify_enabled: set[int] = set()
        self.subscribed = False
        self._count = 1
        self._accounter: int | None = None

    # -- GATT -------------------------------------------------------------------------

    def _build_gatt(self) -> None:
        assert self.device is not None
        props = Characteristic.Properties
        self.data_char = notify_only_characteristic(mw.NOTIFY_UUID)
        self.command_char = writable_characteristic(
            mw.COMMAND_UUID, props.WRITE | props.WRITE_WITHOUT_RESPONSE, self._on_command
        )
        dis = device_information_service(
            {
                "manufacturer": "MbientLab Inc",
                "model_number": "8",
                "serial": self.address.replace(":", "")[-6:],
                "hardware_revision": "0.1",
                "firmware_version": self.firmware_version,
            }
        )
        self.device.add_service(dis)
        self.device.add_service(Service(mw.SERVICE_UUID, [self.command_char, self.data_char]))

    def _advertising_data(self) -> bytes:
        """Flags and the MetaWear service UUID."""
        return service_advertising(mw.SERVICE_UUID)

    # -- commands ---------------------------------------------------------------------

    def _answer(self, value: bytes) -> None:
        assert self.data_char is not None, "made in __init__"
        self._notify(self.data_char, value)

    def _on_command(self, connection: Connection, value: bytes) -> None:
        self.handle_command(bytes(value))

    def handle_command(self, b: bytes) -> None:
        """Execute one command (answers go out as notifications)."""
        if len(b) < 2:
            return
        module, reg = b[0], b[1]
        if reg == mw.MODULE_INFO:
            self._answer(_MODULE_INFO.get(module, bytes([module, 0x80])))
            return
        if module == mw.ACC:
            self._acc_command(reg, b[2:])
        elif module == mw.GYRO:
            self._gyro_command(reg, b[2:])
        if module in (mw.ACC, mw.GYRO):
            self._power_command(module, reg, b[2:])
        elif module == mw.DATA_PROCESSOR:
            self._processor_command(reg, b[2:])
        elif module == mw.SETTINGS and (reg & 0x3F) == mw.SETTINGS_BATTERY and reg & mw.READ:
            mv = int(3600 + 6 * self.battery_percent)
            self._answer(
                bytes([mw.SETTINGS, mw.SETTINGS_BATTERY | mw.READ, self.battery_percent])
                + mv.to_bytes(2, "little")
            )
        self._update_streaming()

    def _acc_command(self, reg: int, p: bytes) -> None:
        if reg == mw.ACC_DATA_CONFIG and len(p) >= 2 and not self.streaming:
            rate = _ODR_HZ.get(p[0] & 0x0F)
            if rate is not None:
                self.set_rate(rate)
            self.acc_range_g = _BMI270_RANGE_G.get(p[1], self.acc_range_g)

    def _gyro_command(self, reg: int, p: bytes) -> None:
        if reg == mw.GYRO_CONFIG and len(p) >= 2 and not self.streaming:
            self.gyro_rate_hz = _ODR_HZ.get(p[0] & 0x0F, self.gyro_rate_hz)
            self.gyro_range_dps = _GYRO_RANGE.get(p[1], self.gyro_range_dps)

    def _power_command(self, module: int, reg: int, p: bytes) -> None:
        """Power mode and data interrupt: the same registers (``mw.ACC_POWER_MODE`` is
        ``mw.GYRO_POWER_MODE``, likewise the interrupt enable) in both modules."""
        if reg == mw.ACC_POWER_MODE and p:
            self.powered[module] = p[0] != 0
        elif reg == mw.ACC_DATA_INTERRUPT_ENABLE and len(p) >= 2:
            # enable mask, then disable mask
            self.interrupt[module] = bool(p[0]) or (self.interrupt[module] and not p[1])

    def _processor_command(self, reg: int, p: bytes) -> None:
        if reg == mw.DP_ADD and len(p) >= 5:
            ptype = p[4]
            if ptype not in (mw.DP_BUFFER, mw.DP_FUSER, mw.DP_ACCOUNTER):
                return
            pid = next(i for i in range(256) if i not in self.processors)
            self.processors[pid] = (ptype, p)
            if ptype == mw.DP_ACCOUNTER:
                self._accounter = pid
                self._count = 1
            self._answer(bytes([mw.DATA_PROCESSOR, mw.DP_ADD, pid]))
        elif reg == mw.DP_NOTIFY_ENABLE and len(p) >= 2:
            (self.notify_enabled.add if p[1] else self.notify_enabled.discard)(p[0])
        elif reg == mw.DP_NOTIFY and p:
            self.subscribed = bool(p[0])
        elif reg == mw.DP_REMOVE and p:
            self.processors.pop(p[0], None)
            self.notify_enabled.discard(p[0])
            if p[0] == self._accounter:
                self._accounter = None
        elif reg == mw.DP_REMOVE_ALL:
            self.processors.clear()
            self.notify_enabled.clear()
            self._accounter = None

    def _chain_ready(self) -> bool:
        types = {t for t, _ in self.processors.values()}
        return {mw.DP_BUFFER, mw.DP_FUSER, mw.DP_ACCOUNTER} <= types

    def _update_streaming(self) -> None:
        running = all(self.powered.values()) and all(self.interrupt.values())
        running = running and self._chain_ready()
        if running and not self.streaming:
            self._start_streaming()
        elif not running and self.streaming:
            self._stop_streaming()

    # -- streaming ----------------------------------------------------------------------

    def _listening(self) -> bool:
        return (
            self.connection is not None
            and self._data_subscribed
            and self.subscribed
            and self._accounter in self.notify_enabled
        )

    def samples_per_packet(self) -> int:
        """One fused sample per notification."""
        return 1

    def _quantise(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> tuple[Any, Any]:
        a = np.rint(acc_mps2 / STANDARD_GRAVITY_MPS2 * mw.acc_counts_per_g(self.acc_range_g))
        g = np.rint(np.rad2deg(gyr_radps) * mw.GYRO_COUNTS_PER_DPS[self.gyro_range_dps])
        return (
            np.clip(a, -32768, 32767).astype(np.int16),
            np.clip(g, -32768, 32767).astype(np.int16),
        )

    def _packet_record(self, first_sample: int, k: int) -> tuple[int, int, int]:
        """``(count, count, 1)``: the accounter's count is the sample's number."""
        c = self._count
        self._count += k
        return (c, c, k)

    def _encode(
        self, records: list[tuple[int, int, int]], acc_q: Any, gyr_q: Any
    ) -> list[list[bytes]]:
        counts = np.array([r[1] for r in records], dtype=np.int64)
        pid = self._accounter if self._accounter is not None else 0
        return [[v] for v in mw.encode_counted(pid, counts, acc_q, gyr_q)]


def metamotion_twin(
    link: Any, *, name: str, address: str, rate_hz: float, **kw: Any
) -> MetaWearTwin:
    """Twin factory of the ``metamotion`` demo kind."""
    return MetaWearTwin(link, name, address, rate_hz=rate_hz, **kw)


metamotion_twin.name_pattern = "MetaWear"  # type: ignore[attr-defined]
