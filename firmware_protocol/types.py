"""Shared value types of the wire protocol: sensor configuration and decoded sample blocks.

These are the types every layer above the protocol codes against. They hold numpy
arrays in SI units (m/s^2, rad/s, seconds) and no behaviour beyond unit conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STANDARD_GRAVITY_MPS2 = 9.80665

#: Sample rates a Poise wearable supports, in Hz (SPEC.md, control point).
SAMPLE_RATES_HZ: tuple[int, ...] = (50, 100, 200)
#: Accelerometer full-scale ranges, in g.
ACC_RANGES_G: tuple[int, ...] = (2, 4, 8, 16)
#: Gyroscope full-scale ranges, in deg/s.
GYRO_RANGES_DPS: tuple[int, ...] = (250, 500, 1000, 2000)


@dataclass(frozen=True)
class SensorConfig:
    """Streaming configuration of one wearable.

    Parameters
    ----------
    sampling_rate_hz
        Output data rate, one of :data:`SAMPLE_RATES_HZ`.
    acc_range_g
        Accelerometer full-scale range in g, one of :data:`ACC_RANGES_G`.
    gyro_range_dps
        Gyroscope full-scale range in deg/s, one of :data:`GYRO_RANGES_DPS`.
    """

    sampling_rate_hz: int = 100
    acc_range_g: int = 8
    gyro_range_dps: int = 2000

    def __post_init__(self) -> None:
        if self.sampling_rate_hz not in SAMPLE_RATES_HZ:
            raise ValueError(
                f"sampling_rate_hz must be one of {SAMPLE_RATES_HZ}, got {self.sampling_rate_hz}"
            )
        if self.acc_range_g not in ACC_RANGES_G:
            raise ValueError(f"acc_range_g must be one of {ACC_RANGES_G}, got {self.acc_range_g}")
        if self.gyro_range_dps not in GYRO_RANGES_DPS:
            raise ValueError(
                f"gyro_range_dps must be one of {GYRO_RANGES_DPS}, got {self.gyro_range_dps}"
            )

    @property
    def acc_scale_mps2(self) -> float:
        """m/s^2 per int16 count: full scale maps to 32768 counts."""
        return self.acc_range_g * STANDARD_GRAVITY_MPS2 / 32768.0

    @property
    def gyro_scale_radps(self) -> float:
        """rad/s per int16 count: full scale maps to 32768 counts."""
        return float(np.deg2rad(self.gyro_range_dps)) / 32768.0

    @property
    def sample_period_us(self) -> int:
        """Nominal sample period in microseconds (integer for all supported rates)."""
        return 1_000_000 // self.sampling_rate_hz

    def to_dict(self) -> dict[str, int]:
        """JSON-friendly form, as stored in recording headers."""
        return {
            "sampling_rate_hz": self.sampling_rate_hz,
            "acc_range_g": self.acc_range_g,
            "gyro_range_dps": self.gyro_range_dps,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SensorConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        return cls(
            sampling_rate_hz=int(d["sampling_rate_hz"]),
            acc_range_g=int(d["acc_range_g"]),
            gyro_range_dps=int(d["gyro_range_dps"]),
        )


@dataclass
class SampleBlock:
    """Consecutive samples of one sensor, decoded from one or more data packets.

    Attributes
    ----------
    seq
        Sequence number of the (first) packet, 0..65535 (wraps).
    timestamp_us
        Sensor clock of every sample in microseconds, int64, *as sent* (32-bit, may
        wrap at 2**32; unwrapping is the stream's job, see ``sensors.clock``).
    acc_mps2
        Acceleration, shape (n, 3), float64, m/s^2, sensor frame.
    gyr_radps
        Angular velocity, shape (n, 3), float64, rad/s, sensor frame.
    sampling_rate_hz
        Nominal rate from the configuration.
    packet_count
        How many packets this block was built from.
    sensor_id
        Which sensor sent it (filled in by the stream, empty from the codec).
    host_time_s
        Host receive time of the (last) packet, if known.
    timestamp_bits
        Width of the sensor timestamp as sent: 32 for full data packets, 24 for compact
        packets (MTU 23); ``timestamp_us`` wraps at ``2**timestamp_bits``.
    """

    seq: int
    timestamp_us: np.ndarray
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray
    sampling_rate_hz: int
    packet_count: int = 1
    sensor_id: str = ""
    host_time_s: float = field(default=float("nan"))
    timestamp_bits: int = 32

    @property
    def n_samples(self) -> int:
        """Number of samples in the block."""
        return int(self.acc_mps2.shape[0])
