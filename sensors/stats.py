"""Per-sensor link statistics: throughput, loss, errors, latency, battery, reconnects.

The stream feeds a :class:`LinkMeter` per sensor from its drain of notifications (one call per
received packet, no per-sample work) and publishes :meth:`LinkMeter.snapshot` as an
immutable :class:`LinkStats` about once a second.

Latency: a sensor's clock and the host's are unrelated, so one-way latency is only
observable relative to the clock model's lower envelope (which *includes* the minimal
latency). ``latency_ms`` is that minimal latency (from the control-point time-sync round
trip: half the round-trip time, the NTP assumption, when available) plus the median
excess of recent packets over the envelope; ``latency_p99_ms`` likewise with the 99th
percentile.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LinkStats:
    """A snapshot of one sensor's link (all counters since the session start).

    Attributes
    ----------
    sensor_index, sensor_id, placement, state
        Which sensor and its connection state (a :class:`sensors.stream.LinkState` value).
    packets_received, samples_received
        Accepted (non-duplicate) packets and samples.
    packets_per_s
        Accepted packets per second over the last window.
    samples_lost, packets_lost
        Accounted in gaps (see :mod:`sensors.gaps`).
    loss_pct
        ``100 * lost / (received + lost)`` samples.
    crc_errors
        Packets the codec rejected (bad CRC or malformed); their samples show up as gaps.
    duplicates
        Packets dropped (wholly or partly) as already received.
    latency_ms, latency_p99_ms
        Estimated sensor-to-host latency, median and 99th percentile over the window.
    drift_ppm
        Current clock-drift estimate.
    battery_pct
        Last battery level, ``None`` when unknown.
    rssi_dbm
        Last RSSI from the scan, ``None`` when unknown.
    reconnects
        Successful reconnections after a link loss.
    mtu
        Negotiated ATT MTU.
    kind
        The sensor's driver kind (:mod:`sensors.devices`).
    rate_hz
        The sampling rate its driver chose.
    """

    sensor_index: int
    sensor_id: str
    placement: str | None
    state: str
    packets_received: int = 0
    samples_received: int = 0
    packets_per_s: float = 0.0
    samples_lost: int = 0
    packets_lost: int = 0
    loss_pct: float = 0.0
    crc_errors: int = 0
    duplicates: int = 0
    latency_ms: float = math.nan
    latency_p99_ms: float = math.nan
    drift_ppm: float = 0.0
    battery_pct: int | None = None
    rssi_dbm: int | None = None
    reconnects: int = 0
    mtu: int = 0
    kind: str = ""
    rate_hz: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready form (NaN latencies become ``None``)."""
        d = asdict(self)
        for k in ("latency_ms", "latency_p99_ms"):
            if isinstance(d[k], float) and not math.isfinite(d[k]):
                d[k] = None
        return d


class LinkMeter:
    """Mutable counters of one sensor; the stream owns one per sensor.

    Parameters
    ----------
    window_s
        Span for the packet rate and the latency percentiles.
    """

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self.crc_errors = 0
        self.reconnects = 0
        self.battery_pct: int | None = None
        self.rssi_dbm: int | None = None
        self.mtu = 0
        self.min_latency_s: float | None = None
        self._recv_times: deque[float] = deque()
        self._first_s: float | None = None
        self._excess_s: deque[float] = deque(maxlen=2000)

    def on_packet(self, host_time_s: float, excess_latency_s: float) -> None:
        """Book one accepted packet: receive time and latency above the clock envelope."""
        if self._first_s is None:
            self._first_s = host_time_s
        self._recv_times.append(host_time_s)
        self._excess_s.append(excess_latency_s)
        cutoff = host_time_s - self.window_s
        rt = self._recv_times
        while rt and rt[0] < cutoff:
            rt.popleft()

    def packets_per_s(self, now_s: float | None = None) -> float:
        """Accepted packets per second over the last window."""
        now = time.monotonic() if now_s is None else now_s
        rt = self._recv_times
        while rt and rt[0] < now - self.window_s:
            rt.popleft()
        if not rt or self._first_s is None:
            return 0.0
        span = min(self.window_s, max(now - self._first_s, 1e-3))
        return len(rt) / span

    def latency_ms(self) -> tuple[float, float]:
        """(median, p99) latency estimate in ms, NaN before any packet."""
        if not self._excess_s:
            return math.nan, math.nan
        ex = np.fromiter(self._excess_s, dtype=np.float64, count=len(self._excess_s))
        base = self.min_latency_s or 0.0
        p50, p99 = np.percentile(np.maximum(ex, 0.0), [50.0, 99.0])
        return (base + float(p50)) * 1e3, (base + float(p99)) * 1e3
