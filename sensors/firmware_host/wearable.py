"""A Poise wearable whose code is the MicroPython firmware, on a virtual Bumble link.

:class:`FirmwareWearable` builds what ``main.py`` builds on a board -- IMU driver, board,
32-bit clock, app -- from the firmware's own modules (:func:`~sensors.firmware_host.
load_firmware`), with the stand-ins of this package underneath, and runs the firmware's
main loop (``App.step()``) every :data:`LOOP_PERIOD_S` on the event loop.

Faults a board can suffer and a test needs: :meth:`FirmwareWearable.stall` stops the main
loop for a while (a blocking flash write, a long garbage collection): the IMU's FIFO
fills and overflows, which the firmware must report as a gap of the right length. The
ticks counter and the 32-bit clock start where the caller says, so a test can put their
wraps inside a recording.

:func:`firmware_twin` is the factory of the ``firmware`` demo kind
(``sensors.devices.register_twin``, registered by the Poise device package with the Poise
driver as the one that talks to it): ``--demo firmware:N``, ``Emulator(firmware=...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_protocol import codec, gatt
from firmware_protocol.types import SensorConfig
from sensors.bumble_backend.link import REASON_CONNECTION_TIMEOUT, VirtualLink
from sensors.firmware_host import SimTicks, load_firmware
from sensors.firmware_host.ble import UUID as BLE_UUID
from sensors.firmware_host.ble import BumbleBLE
from sensors.firmware_host.imu import ImuTruth, SimImuBus

logger = logging.getLogger(__name__)

#: Period of the firmware's main loop (main.py sleeps 5 ms between steps).
LOOP_PERIOD_S = 0.005


class _Pin:
    """``machine.Pin`` output: remembers its level and every change (identify tests)."""

    def __init__(self) -> None:
        self.level = 0
        self.changes = 0

    def value(self, v: int | None = None) -> int:
        if v is not None and int(v) != self.level:
            self.level = int(v)
            self.changes += 1
        return self.level


class _Machine:
    """The parts of ``machine`` that ``poise_board.detect`` uses."""

    class Pin:
        OUT = 1

        def __init__(self, _number: int, _mode: int = 0) -> None:
            self._pin = _Pin()
            self.value = self._pin.value

    ADC = None


@dataclass
class FirmwareTruth:
    """What a firmware wearable did (ground truth for tests and ``poise emulate``)."""

    name: str
    address: str
    imu: ImuTruth = field(default_factory=ImuTruth)
    packets_sent: int = 0
    stalls: list[tuple[float, float]] = field(default_factory=list)
    identify_blinks: int = 0
    #: ``time.perf_counter()`` when each data packet was handed to the link, by its first
    #: sample's timestamp as sent (``record_send_times``; latency benchmarks).
    send_times_s: dict[int, float] = field(default_factory=dict)

    @property
    def samples_produced(self) -> int:
        """Samples the IMU wrote into its FIFO."""
        return self.imu.into_fifo

    @property
    def samples_read_out(self) -> int:
        return len(self.imu.read_out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the keys ``poise emulate`` prints, and firmware ones)."""
        return {
            "name": self.name,
            "address": self.address,
            "firmware": "micropython",
            "samples_produced": self.samples_produced,
            "samples_sent": self.samples_read_out,
            "samples_dropped": 0,
            "samples_undelivered": 0,
            "samples_corrupted": 0,
            "disconnect_times_s": [],
            "samples_lost_in_fifo": self.samples_produced - self.samples_read_out,
            "fifo_overflows": self.imu.overflows,
            "fifo_resets": self.imu.resets,
            "packets_sent": self.packets_sent,
            "stalls": [list(s) for s in self.stalls],
        }


class FirmwareWearable:
    """The MicroPython firmware on a virtual controller, with a simulated IMU.

    A virtual twin of demo kind ``firmware`` (``start()``, ``close()``, ``name``,
    ``address``, ``kind``, ``truth``) that a Poise driver talks to; it is not a
    :class:`~sensors.virtual_wearable.VirtualSensor`: the firmware's own code serves GATT,
    paces and packs the samples.

    Parameters
    ----------
    link
        Virtual link to join.
    name, address
        Advertised name (``Poise-...``) and random static address.
    source_factory
        Motion source for a rate (see :mod:`sensors.virtual_wearable`).
    config
        Configuration the firmware starts with (clients set their own).
    chip
        ``"MPU6886"`` (M5StickC Plus board, AXP192 battery) or ``"MPU6050"`` (generic
        ESP32 board, battery unknown).
    battery_percent
        Battery level behind the AXP192.
    ticks_start_us, clock_start_us
        Where ``ticks_us`` (wraps at 2**30) and the firmware's 32-bit clock start.
    serial
        Serial number (default: from the name).
    rssi_dbm
        RSSI scanners report.
    record_send_times
        Keep the send time of every data packet in ``truth.send_times_s``.
    """

    def __init__(
        self,
        link: VirtualLink,
        name: str,
        address: str,
        *,
        source_factory: Any,
        config: SensorConfig | None = None,
        chip: str = "MPU6886",
        battery_percent: float = 100.0,
        ticks_start_us: int = 0,
        clock_start_us: int = 0,
        serial: str | None = None,
        rssi_dbm: int = -50,
        seed: int = 0,
        record_send_times: bool = False,
    ) -> None:
        if not name.startswith(gatt.NAME_PREFIX):
            raise ValueError(f"wearable name must start with {gatt.NAME_PREFIX!r}, got {name!r}")
        if chip not in ("MPU6886", "MPU6050"):
            raise ValueError(f"chip must be 'MPU6886' or 'MPU6050', got {chip!r}")
        self.link = link
        self.name = name
        self.address = address
        self.config = config or SensorConfig()
        self.chip = chip
        self.battery = float(battery_percent)
        self.ticks_start_us = int(ticks_start_us)
        self.clock_start_us = int(clock_start_us) & 0xFFFFFFFF
        self.serial = (serial or "PS" + name.removeprefix(gatt.NAME_PREFIX))[:10]
        self.rssi_dbm = rssi_dbm
        self.seed = seed
        self._record_send_times = bool(record_send_times)
        self._source_factory = source_factory
        self.truth = FirmwareTruth(name=name, address=address)
        self.ble: BumbleBLE | None = None
        self.bus: SimImuBus | None = None
        self.app: Any = None
        self.ticks: SimTicks | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stalled_until = 0.0
        self._closed = False
        self.step_errors = 0

    #: Demo kind (``sensors.devices.register_twin``); the Poise driver talks to it.
    kind = "firmware"

    @property
    def rate_hz(self) -> float:
        """Sampling rate the firmware runs at (its configuration; a client may change it)."""
        cid = getattr(self.app, "cid", None)
        if cid is None:
            return float(self.config.sampling_rate_hz)
        return float((50, 100, 200)[cid & 0x03])

    async def start(self) -> FirmwareWearable:
        """Build the stand-ins and the firmware's objects, register, advertise, run."""
        fw = load_firmware()
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.ticks = ticks = SimTicks(loop.time, self.ticks_start_us)
        t_ref = loop.time()
        self.bus = bus = SimImuBus(
            lambda: int(round((loop.time() - t_ref) * 1e6)),
            self._source_factory,
            chip=self.chip,
            battery_percent=lambda: self.battery,
            phase_us=1_000 + (self.seed * 2_357) % 3_000,
        )
        await asyncio.to_thread(bus.prepare, self.config.sampling_rate_hz)
        self.ble = ble = BumbleBLE(self.link, self.name, self.address, self.rssi_dbm)
        if self._record_send_times:
            ble.on_notify = self._note_send
        await ble.open()
        board = fw.poise_board.detect(_Machine, bus)
        # the model the firmware reports says the board is simulated, as other twins' do
        if self.chip != "MPU6886":
            board.model = "ESP32 + MPU6050 (simulated)"
        else:
            board.model = "M5StickC Plus (MPU6886, simulated)"
        imu = fw.poise_imu.Imu(bus, 0x68, None)
        imu.probe()
        clock = fw.poise_clock.Clock32(
            ticks.ticks_us,
            ticks.ticks_diff,
            ticks.ticks_add,
            self.clock_start_us >> 16,
            self.clock_start_us & 0xFFFF,
        )
        self.app = fw.poise_app.App(
            ble,
            BLE_UUID,
            imu,
            board,
            clock,
            name=self.name,
            serial=self.serial,
            ticks_ms=ticks.ticks_ms,
            ticks_diff=ticks.ticks_diff,
            ticks_add=ticks.ticks_add,
        )
        codes = (
            (50, 100, 200).index(self.config.sampling_rate_hz),
            (2, 4, 8, 16).index(self.config.acc_range_g),
            (250, 500, 1000, 2000).index(self.config.gyro_range_dps),
        )
        self.app.cid = fw.poise_proto.config_id(*codes)
        self.app.start()
        self.truth.imu = bus.truth
        self._schedule()
        return self

    def _note_send(self, handle: int, value: bytes) -> None:
        if self.app is not None and handle == self.app.h_data:
            with contextlib.suppress(codec.ProtocolError):
                ts = codec.peek_header(value).timestamp_us
                self.truth.send_times_s[ts] = time.perf_counter()

    def _schedule(self) -> None:
        assert self._loop is not None
        if not self._closed:
            self._timer = self._loop.call_later(LOOP_PERIOD_S, self._step)

    def _step(self) -> None:
        self._timer = None
        if self._closed:
            return
        assert self._loop is not None
        if self._loop.time() >= self._stalled_until:
            try:
                self.app.step()
            except Exception:  # a firmware bug must show, not stop the loop silently
                self.step_errors += 1
                logger.exception("%s: firmware step failed", self.name)
            if self.ble is not None:
                data = self.app.h_data if self.app is not None else None
                self.truth.packets_sent = self.ble.notified.get(data, 0) if data is not None else 0
        self._schedule()

    def stall(self, seconds: float) -> None:
        """Stop the firmware's main loop for ``seconds`` from now (the IMU keeps
        sampling; its FIFO overflows after 1024 bytes)."""
        assert self._loop is not None
        now = self._loop.time()
        self._stalled_until = max(self._stalled_until, now + seconds)
        self.truth.stalls.append((now, now + seconds))

    def force_disconnect(self, reason: int = REASON_CONNECTION_TIMEOUT) -> bool:
        """Simulate a link loss now."""
        if self.ble is None or not self.ble._connections:
            return False
        self.ble.drop_connections()
        return True

    @property
    def led_changes(self) -> int:
        """How often the board's LED changed (IDENTIFY blinks it)."""
        board = getattr(self.app, "board", None)
        pin = getattr(board, "_led", None)
        return int(getattr(getattr(pin, "_pin", None), "changes", 0))

    def sensor_clock_us(self) -> int:
        """The firmware's 32-bit clock now (after a step)."""
        self.app.clock.update()
        return int(self.app.clock.value())

    def read_out_counts(self) -> np.ndarray:
        """Counts of every sample the firmware read from the IMU's FIFO, in order."""
        return self.truth.imu.read_out_counts()

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.ble is not None:
            await self.ble.close()


#: Why ``firmware`` twins refuse ``--faults`` (read by ``sensors.emulator``).
_REFUSES_FAULTS = (
    "the MicroPython firmware runs unmodified and injects no faults (a test stalls its "
    "main loop with FirmwareWearable.stall() to make the IMU's FIFO overflow instead)"
)


def firmware_twin(
    link: VirtualLink,
    *,
    name: str,
    address: str,
    rate_hz: float,
    source_factory: Any = None,
    faults: Any = None,
    seed: int = 0,
    battery_percent: float = 100.0,
    record_send_times: bool = False,
    rssi_dbm: int = -50,
    config: SensorConfig | None = None,
    **options: Any,
) -> FirmwareWearable:
    """Twin factory of the ``firmware`` demo kind (:func:`sensors.devices.register_twin`).

    The arguments are those every twin factory takes; ``config`` (default: the Poise
    configuration nearest ``rate_hz``, 8 g, 2000 deg/s) and ``options`` (``chip``,
    ``ticks_start_us``, ``clock_start_us``, ``serial``) go to :class:`FirmwareWearable`.

    Raises
    ------
    ValueError
        Faults asked for (the firmware injects none).
    """
    from sensors.devices.poise import PoiseDriver
    from sensors.virtual_wearable import FaultConfig, QuietStanceSource

    if faults is not None and faults != FaultConfig():
        raise ValueError(f"{name}: no fault injection for 'firmware' twins: {_REFUSES_FAULTS}")
    if source_factory is None:

        def source_factory(rate: float) -> QuietStanceSource:
            return QuietStanceSource(rate, seed)

    return FirmwareWearable(
        link,
        name,
        address,
        source_factory=source_factory,
        config=config or PoiseDriver.choose_config(rate_hz, 8, 2000),
        battery_percent=battery_percent,
        seed=seed,
        rssi_dbm=rssi_dbm,
        record_send_times=record_send_times,
        **options,
    )


firmware_twin.name_pattern = "Poise-FW{n:04d}"  # type: ignore[attr-defined]
firmware_twin.refuses_faults = _REFUSES_FAULTS  # type: ignore[attr-defined]
