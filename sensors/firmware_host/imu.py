"""A register-level MPU6886 / MPU6050 (and AXP192) behind a ``machine.I2C`` stand-in.

What the firmware's IMU driver relies on, modelled as the datasheets describe it (see
``firmware_protocol/micropython/poise_imu.py`` for the sources):

* WHO_AM_I, PWR_MGMT_1 (a reset restarts the sample clock), SMPLRT_DIV (rate = 1 kHz /
  (1 + div)), GYRO_CONFIG / ACCEL_CONFIG full-scale bits 4:3;
* FIFO_EN + USER_CTRL.FIFO_EN: at every sample instant one record (MPU6050: accel 6 +
  gyro 6 bytes; MPU6886: accel 6 + temperature 2 + gyro 6) is appended, big-endian;
  USER_CTRL.FIFO_RESET empties it;
* FIFO_COUNT_H/L: bytes in the FIFO; FIFO_R_W: burst reads consume FIFO bytes;
* overflow: the FIFO holds 1024 bytes; a record that does not fit pushes the oldest
  *bytes* out (records become misaligned, as on the chip) and sets INT_STATUS
  FIFO_OFLOW_INT (bit 4, cleared by reading INT_STATUS).

Samples are taken at ``t0 + n * period`` of the host clock (after a configurable phase),
computed lazily at every bus access, from a motion source converted to counts with the
configured ranges (``codec.to_counts``, the ADC's rounding and saturation).

:class:`ImuTruth` records every sample's counts and its fate (read out whole through
the FIFO, or lost: never read, overwritten or reset away) for the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_protocol import codec
from firmware_protocol.types import ACC_RANGES_G, GYRO_RANGES_DPS, SensorConfig

MPU_ADDRESS = 0x68
AXP192_ADDRESS = 0x34
#: chip -> (WHO_AM_I, FIFO bytes, record bytes, accel offset, gyro offset)
CHIPS = {
    "MPU6886": (0x19, 1024, 14, 0, 8),
    "MPU6050": (0x68, 1024, 12, 0, 6),
}
_ENODEV = 19
#: Samples read from the motion source at a time.
_CHUNK = 256


@dataclass
class ImuTruth:
    """What the simulated IMU produced and what became of it.

    Attributes
    ----------
    counts
        (n, 6) int16 counts of every sample taken since the last configuration
        (ax, ay, az, gx, gy, gz), in order.
    read_out
        Indices into ``counts`` of the samples read out whole through the FIFO, in order.
    into_fifo
        Samples written into the FIFO.
    overflows
        FIFO overflow events (a record pushed older bytes out).
    resets
        FIFO resets (USER_CTRL.FIFO_RESET).
    config
        Ranges and rate of ``counts``.
    """

    counts: list[np.ndarray] = field(default_factory=list)
    read_out: list[int] = field(default_factory=list)
    into_fifo: int = 0
    overflows: int = 0
    resets: int = 0
    config: SensorConfig | None = None

    def all_counts(self) -> np.ndarray:
        """Every sample's counts as one (n, 6) array."""
        return np.concatenate(self.counts) if self.counts else np.empty((0, 6), np.int16)

    def read_out_counts(self) -> np.ndarray:
        """Counts of the samples read out whole, in order."""
        return self.all_counts()[np.asarray(self.read_out, dtype=np.int64)]


class SimImuBus:
    """``machine.I2C`` stand-in with an MPU6886 or MPU6050 at 0x68 (and an AXP192).

    Parameters
    ----------
    now_us
        Host clock in microseconds (unwrapped int).
    source_factory
        Makes a motion source (``read(n) -> (acc_mps2, gyr_radps)``) for a rate in Hz.
    chip
        ``"MPU6886"`` (M5StickC Plus, with the AXP192) or ``"MPU6050"`` (generic board).
    battery_percent
        Battery level behind the AXP192 (M5StickC Plus only); a callable for a level
        that changes.
    phase_us
        Delay from a reset to the first sample (the chip's own timing).
    """

    def __init__(
        self,
        now_us: Callable[[], int],
        source_factory: Callable[[int], Any],
        chip: str = "MPU6886",
        battery_percent: float | Callable[[], float] = 100.0,
        phase_us: int = 1_700,
    ) -> None:
        if chip not in CHIPS:
            raise ValueError(f"unknown IMU {chip!r} (known: {', '.join(CHIPS)})")
        self.now_us = now_us
        self.source_factory = source_factory
        self.chip = chip
        self.who_am_i, self.capacity, self.frame, self.acc_off, self.gyr_off = CHIPS[chip]
        self.has_pmic = chip == "MPU6886"
        self._battery = battery_percent
        self.phase_us = int(phase_us)
        self.regs = bytearray(128)
        self.regs[0x75] = self.who_am_i
        self.regs[0x6B] = 0x40  # power-on default: asleep
        self.truth = ImuTruth()
        self._sources: dict[int, Any] = {}
        self._fifo = bytearray()
        self._fifo_records: list[tuple[int, int]] = []  # (sample index, bytes left of it)
        self._head_damaged = False
        self._t0_us = now_us()
        self._next_n = 0
        self._n_offset = 0
        self.stalled_reads = 0

    # -- configuration derived from the registers ----------------------------------------

    def config(self) -> SensorConfig:
        rate = 1000 // (1 + self.regs[0x19])
        acc = ACC_RANGES_G[(self.regs[0x1C] >> 3) & 3]
        gyro = GYRO_RANGES_DPS[(self.regs[0x1B] >> 3) & 3]
        return SensorConfig(rate, acc, gyro)

    def prepare(self, rate_hz: int) -> None:
        """Build the motion source for a rate ahead of time (scenarios take a while)."""
        if rate_hz not in self._sources:
            self._sources[rate_hz] = self.source_factory(rate_hz)

    def _restart(self) -> None:
        """PWR_MGMT_1 reset or a rate change: the sample clock starts again."""
        self._catch_up()
        self._t0_us = self.now_us() + self.phase_us
        self._next_n = len(self.truth.all_counts()) if self.truth.counts else 0
        self._n_offset = self._next_n
        self.truth.config = None

    # -- sampling ------------------------------------------------------------------------

    def _fifo_on(self) -> bool:
        return bool(self.regs[0x6A] & 0x40) and self.regs[0x23] != 0

    def _catch_up(self) -> None:
        """Take every sample due by now (vectorised), appending records to the FIFO."""
        if self.regs[0x6B] & 0x40 or 1000 // (1 + self.regs[0x19]) not in (50, 100, 200):
            return  # asleep, or a rate the firmware never sets (mid-configuration)
        cfg = self.config()
        if self.truth.config is None:
            self.truth.config = cfg
            self._n_offset = self._next_n
        period_us = 1_000_000 // cfg.sampling_rate_hz
        due = (self.now_us() - self._t0_us) // period_us + 1 + self._n_offset
        n = due - self._next_n
        if n <= 0:
            return
        rate = cfg.sampling_rate_hz
        if rate not in self._sources:
            self.prepare(rate)
        acc, gyr = self._sources[rate].read(n)
        acc_c, gyr_c = codec.to_counts(acc, gyr, cfg)
        counts = np.hstack([acc_c, gyr_c]).astype(np.int16)
        first = self._next_n
        self.truth.counts.append(counts)
        self._next_n = due
        if not self._fifo_on():
            return
        records = np.zeros((n, self.frame), np.uint8)
        be = counts.astype(">i2").view(np.uint8).reshape(n, 12)
        records[:, self.acc_off : self.acc_off + 6] = be[:, :6]
        records[:, self.gyr_off : self.gyr_off + 6] = be[:, 6:]
        if self.frame == 14:
            records[:, 6:8] = np.frombuffer((2500).to_bytes(2, "big"), np.uint8)  # ~32.6 C
        self._fifo += records.tobytes()
        self._fifo_records.extend((first + i, self.frame) for i in range(n))
        self.truth.into_fifo += n
        excess = len(self._fifo) - self.capacity
        if excess > 0:  # the oldest bytes go (the chip overwrites them)
            del self._fifo[:excess]
            self._drop_front(excess)
            self.truth.overflows += 1
            self.regs[0x3A] |= 0x10

    def _drop_front(self, nbytes: int, *, read: bool = False) -> None:
        """Take ``nbytes`` off the front of the FIFO's records; a record read out whole
        (``read``) and not overwritten at its start goes to the truth."""
        recs = self._fifo_records
        while nbytes > 0 and recs:
            idx, left = recs[0]
            if left <= nbytes:
                nbytes -= left
                recs.pop(0)
                if read and not self._head_damaged:
                    self.truth.read_out.append(idx)
                self._head_damaged = False
            else:
                recs[0] = (idx, left - nbytes)
                self._head_damaged = True
                nbytes = 0

    def _read_fifo(self, n: int) -> bytes:
        data = bytes(self._fifo[:n])
        if len(data) < n:  # empty FIFO: the chip repeats the last byte
            self.stalled_reads += 1
            data += bytes([data[-1] if data else 0]) * (n - len(data))
        del self._fifo[:n]
        self._drop_front(n, read=True)
        return data

    def _reset_fifo(self) -> None:
        self._fifo.clear()
        self._fifo_records.clear()
        self._head_damaged = False
        self.truth.resets += 1

    # -- machine.I2C ----------------------------------------------------------------------

    def scan(self) -> list[int]:
        return [AXP192_ADDRESS, MPU_ADDRESS] if self.has_pmic else [MPU_ADDRESS]

    def readfrom_mem_into(self, addr: int, reg: int, buf: Any) -> None:
        if addr == AXP192_ADDRESS and self.has_pmic:
            for i in range(len(buf)):
                buf[i] = self._axp_register(reg + i)
            return
        if addr != MPU_ADDRESS:
            raise OSError(_ENODEV, "ENODEV")
        self._catch_up()
        n = len(buf)
        if reg == 0x74:
            buf[:] = self._read_fifo(n)
            return
        for i in range(n):
            r = reg + i
            if r == 0x72:
                buf[i] = (len(self._fifo) >> 8) & 0x1F
            elif r == 0x73:
                buf[i] = len(self._fifo) & 0xFF
            elif r == 0x3A:
                buf[i] = self.regs[0x3A]
                self.regs[0x3A] = 0
            else:
                buf[i] = self.regs[r & 0x7F]

    def readfrom_mem(self, addr: int, reg: int, n: int) -> bytes:
        buf = bytearray(n)
        self.readfrom_mem_into(addr, reg, buf)
        return bytes(buf)

    def writeto_mem(self, addr: int, reg: int, buf: Any) -> None:
        if addr == AXP192_ADDRESS and self.has_pmic:
            return
        if addr != MPU_ADDRESS:
            raise OSError(_ENODEV, "ENODEV")
        self._catch_up()
        for i, value in enumerate(bytes(buf)):
            r = (reg + i) & 0x7F
            if r == 0x6B and value & 0x80:  # DEVICE_RESET
                self.regs[0x19:0x24] = bytes(11)
                self.regs[0x6A] = 0
                self.regs[0x6B] = 0x40
                self._reset_fifo()
                self._restart()
                continue
            if r == 0x6A and value & 0x04:  # FIFO_RESET (self-clearing)
                self._reset_fifo()
                value &= ~0x04
            old_rate = self.regs[0x19]
            self.regs[r] = value
            if r in (0x19, 0x1B, 0x1C) and (r != 0x19 or value != old_rate):
                self._restart()

    # -- AXP192 -----------------------------------------------------------------------

    def battery_percent(self) -> float:
        return float(self._battery() if callable(self._battery) else self._battery)

    def _axp_register(self, reg: int) -> int:
        mv = 3300 + self.battery_percent() * (4150 - 3300) / 100.0
        raw = int(mv / 1.1)
        if reg == 0x78:
            return (raw >> 4) & 0xFF
        if reg == 0x79:
            return raw & 0x0F
        if reg == 0x82:
            return 0xFF
        return 0
