"""Sensor clocks to host time: timestamp unwrapping, offset and drift estimation.

Every Poise wearable stamps its samples with its own free-running 32-bit microsecond
counter (``firmware_protocol/SPEC.md``). That clock starts at an arbitrary value, wraps
every 71.6 minutes and runs slightly fast or slow (a cheap crystal is off by tens of
ppm, +-100 ppm is 60 ms after 10 minutes, twelve samples at 200 Hz). To put several
sensors on one timeline, each sensor gets a linear model

    host_s = host_ref_s + (sensor_s - sensor_ref_s) * (1 + drift_ppm * 1e-6)

estimated from the stream itself: each received packet gives one pair (sensor time of
its last sample, host receive time). Their difference is the clock offset plus a
transmission latency that is never negative and usually jittery (BLE connection events,
the host scheduler). The *lower envelope* of the pairs is therefore the clock line
shifted by the minimal latency; the minimal latency is almost the same for every sensor
on one host, so it cancels when sensors are compared.

The estimator is the linear-programming lower bound of Moon, Skelly and Towsley: the
line below every point that minimises the summed vertical distance to the points. That
line is the edge of the lower convex hull that spans the mean sensor time, found in
O(n) after a monotone-chain hull; it ignores latency spikes entirely (they lie above
the hull) and needs no tuning.

:func:`fit_clock` is the batch form (whole recordings, used when loading a file);
:class:`ClockModel` is the online form used while streaming (sliding window of bucket
minima, refitted every bucket).

References
----------
S. B. Moon, P. Skelly, D. Towsley, "Estimation and removal of clock skew from network
delay measurements", Proc. IEEE INFOCOM 1999, pp. 227-234.

Notes
-----
Differences to the original: Moon et al. fit one-way delays of a whole trace offline.
The online model here fits a sliding window (default 60 s) of per-bucket minima (default
0.25 s buckets) so the cost stays constant and the model follows slow, temperature-driven
changes of the drift; the batch fit uses every point. Drift outside +-``max_drift_ppm`` is
treated as implausible (a clock reset or a host clock jump) and clamped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import overload

import numpy as np

from firmware_protocol import codec

#: The sensor timestamp counter is 32 bits of microseconds.
TIMESTAMP_MODULUS_US = 1 << 32


class TimestampUnwrapper:
    """Turn wrapping u32 microsecond timestamps into a monotonic int64 count.

    Each new value is placed at the signed 32-bit distance from the last unwrapped
    value, so wraps forward are followed and small steps back (a duplicate or an
    out-of-order packet) stay small negative steps instead of jumping by 2**32.

    Attributes
    ----------
    last_us
        The last unwrapped value, or ``None`` before the first call.
    """

    def __init__(self, modulus_us: int = TIMESTAMP_MODULUS_US) -> None:
        self.modulus_us = int(modulus_us)
        self.last_us: int | None = None

    def unwrap(self, timestamp_us: int) -> int:
        """Unwrap one raw timestamp (0..modulus-1) and return it as an unbounded int."""
        value = self.peek(timestamp_us)
        self.commit(value)
        return value

    def peek(self, timestamp_us: int) -> int:
        """Unwrap without remembering the value (for a packet that may be dropped).

        Values wrap modulo ``modulus_us`` (2**32 for full packets; the compact MTU-23
        packets carry fewer bits, pass their modulus).
        """
        m = self.modulus_us
        if self.last_us is None:
            return int(timestamp_us) % m
        delta = (int(timestamp_us) - self.last_us) % m
        if delta >= m // 2:
            delta -= m
        return self.last_us + delta

    def commit(self, unwrapped_us: int) -> None:
        """Advance the reference to ``unwrapped_us`` if it is newer."""
        if self.last_us is None or unwrapped_us > self.last_us:
            self.last_us = int(unwrapped_us)


def unwrap_timestamps_us(timestamp_us: np.ndarray, bits: int = 32) -> np.ndarray:
    """Unwrap a whole array of wrapping microsecond timestamps (vectorised).

    Parameters
    ----------
    timestamp_us
        Raw timestamps in receive order, 0..2**bits-1.
    bits
        Counter width: 32 for full data packets, 24 for compact (MTU 23) packets
        (``SampleBlock.timestamp_bits``).

    Returns
    -------
    numpy.ndarray
        int64, the first value unchanged, later values at the signed ``bits``-bit
        distance of each step (so a wrap adds 2**bits, a small step back stays a step
        back).
    """
    mod = 1 << int(bits)
    ts = np.asarray(timestamp_us, dtype=np.int64) % mod
    return codec.unwrap_timestamps(ts, bits=int(bits))  # the SPEC 3.5 rule, one implementation


@dataclass(frozen=True)
class ClockFit:
    """A linear map from one sensor's clock to host time.

    ``host_s = host_ref_s + (sensor_s - sensor_ref_s) * (1 + drift_ppm * 1e-6)``

    Attributes
    ----------
    sensor_ref_s
        Sensor time (unwrapped, seconds) of the reference point.
    host_ref_s
        Host time (seconds, same clock as the receive times) at ``sensor_ref_s``;
        includes the minimal transmission latency.
    drift_ppm
        How much faster the host clock runs than the sensor's, in parts per million
        (positive: the sensor clock is slow).
    n_points
        Number of (bucket) points the fit used.
    span_s
        Sensor-time span of those points.
    """

    sensor_ref_s: float
    host_ref_s: float
    drift_ppm: float = 0.0
    n_points: int = 0
    span_s: float = 0.0

    @property
    def scale(self) -> float:
        """Host seconds per sensor second."""
        return 1.0 + self.drift_ppm * 1e-6

    @overload
    def to_host(self, sensor_time_s: float) -> float: ...
    @overload
    def to_host(self, sensor_time_s: np.ndarray) -> np.ndarray: ...

    def to_host(self, sensor_time_s: np.ndarray | float) -> np.ndarray | float:
        """Map sensor time (unwrapped seconds) to host time (seconds)."""
        return self.host_ref_s + (np.asarray(sensor_time_s) - self.sensor_ref_s) * self.scale

    def to_host_us(self, sensor_time_us: np.ndarray) -> np.ndarray:
        """Map unwrapped sensor microseconds (int array) to host seconds, keeping precision."""
        rel_s = (np.asarray(sensor_time_us, dtype=np.int64) - round(self.sensor_ref_s * 1e6)) * 1e-6
        return self.host_ref_s + rel_s * self.scale

    def to_sensor(self, host_time_s: np.ndarray | float) -> np.ndarray | float:
        """Inverse of :meth:`to_host`."""
        return self.sensor_ref_s + (np.asarray(host_time_s) - self.host_ref_s) / self.scale

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready form (for recording events and link statistics)."""
        return {
            "sensor_ref_s": float(self.sensor_ref_s),
            "host_ref_s": float(self.host_ref_s),
            "drift_ppm": float(self.drift_ppm),
            "n_points": int(self.n_points),
            "span_s": float(self.span_s),
        }


def _lower_hull(x: np.ndarray, y: np.ndarray) -> list[int]:
    """Indices of the lower convex hull of points sorted by x (Andrew's monotone chain)."""
    hull: list[int] = []
    x, y = np.asarray(x, dtype=float).tolist(), np.asarray(y, dtype=float).tolist()
    # Python floats: the same IEEE arithmetic as numpy scalars, several times faster to
    # index in this loop (the hub refits every sensor's clock a few times a second)
    for i in range(len(x)):
        xi, yi = x[i], y[i]
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # keep b only if it lies strictly below the segment a -> i
            if (x[b] - x[a]) * (yi - y[a]) - (y[b] - y[a]) * (xi - x[a]) <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def _envelope_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Moon et al.'s LP line (intercept at x=0, slope) below all points, x sorted ascending."""
    if len(x) == 1 or x[-1] - x[0] <= 0:
        return float(np.min(y)), 0.0
    hull = _lower_hull(x, y)
    if len(hull) == 1:
        return float(y[hull[0]]), 0.0
    xm = float(np.mean(x))
    hx = x[hull]
    k = int(np.searchsorted(hx, xm, side="right"))
    k = min(max(k, 1), len(hull) - 1)
    i, j = hull[k - 1], hull[k]
    slope = (y[j] - y[i]) / (x[j] - x[i])
    return float(y[i] - slope * x[i]), float(slope)


def fit_clock(
    sensor_time_s: np.ndarray,
    host_time_s: np.ndarray,
    *,
    max_drift_ppm: float = 500.0,
) -> ClockFit:
    """Fit one sensor's clock to host time from (sensor time, host receive time) pairs.

    Parameters
    ----------
    sensor_time_s
        Unwrapped sensor time of each packet's last sample, seconds, ascending.
    host_time_s
        Host receive time of each packet, seconds (any monotonic host clock).
    max_drift_ppm
        Drift beyond this is implausible for a quartz clock; the slope is clamped to it
        and the line lowered to stay below every point.

    Returns
    -------
    ClockFit
        The lower-envelope line (Moon et al. 1999); see the module docstring.

    Raises
    ------
    ValueError
        If the arrays are empty or differ in length.
    """
    xs = np.asarray(sensor_time_s, dtype=np.float64)
    hs = np.asarray(host_time_s, dtype=np.float64)
    if xs.shape != hs.shape or xs.ndim != 1:
        raise ValueError(
            f"fit_clock: sensor and host times must be 1-D arrays of one length, "
            f"got shapes {xs.shape} and {hs.shape}"
        )
    ok = np.isfinite(xs) & np.isfinite(hs)
    xs, hs = xs[ok], hs[ok]
    if xs.size == 0:
        raise ValueError("fit_clock: no finite (sensor time, host time) pairs to fit")
    order = np.argsort(xs, kind="stable")
    xs, hs = xs[order], hs[order]
    x0, h0 = float(xs[0]), float(hs[0])
    x = xs - x0
    y = (hs - h0) - x  # offset (host - sensor) relative to the first point
    intercept, slope = _envelope_line(x, y)
    limit = max_drift_ppm * 1e-6
    if abs(slope) > limit:
        slope = float(np.clip(slope, -limit, limit))
        intercept = float(np.min(y - slope * x))
    xr = float(np.mean(x))
    return ClockFit(
        sensor_ref_s=x0 + xr,
        host_ref_s=h0 + xr + intercept + slope * xr,
        drift_ppm=slope * 1e6,
        n_points=int(x.size),
        span_s=float(x[-1] - x[0]),
    )


class ClockModel:
    """Online clock model of one sensor (see the module docstring for the method).

    Parameters
    ----------
    window_s
        Sensor-time span of the sliding window the line is fitted to.
    bucket_s
        Points are reduced to the minimum offset per bucket of this length; the line is
        refitted whenever a bucket closes.
    max_drift_ppm
        Plausibility limit for the drift, see :func:`fit_clock`.
    min_drift_span_s
        The drift is estimated once the window's points span this much sensor time; before
        that the line is the lowest offset seen, without drift. Over a short span the
        latency jitter (milliseconds) dwarfs the drift (a quartz's 100 ppm is 0.8 ms in 8 s):
        a slope fitted to half a second of minima is noise, hits the plausibility limit and
        put the first seconds' samples up to a few milliseconds off, some of them early.

    Attributes
    ----------
    fit_
        The current :class:`ClockFit`, ``None`` before the first :meth:`update`.
    n_updates_
        How many pairs were fed.

    Examples
    --------
    >>> m = ClockModel()
    >>> _ = m.update(sensor_time_s=10.0, host_time_s=1000.004)
    >>> round(float(m.to_host(10.0)), 3)
    1000.004
    """

    def __init__(
        self,
        window_s: float = 60.0,
        bucket_s: float = 0.25,
        max_drift_ppm: float = 500.0,
        min_drift_span_s: float = 8.0,
    ) -> None:
        self.window_s = window_s
        self.bucket_s = bucket_s
        self.max_drift_ppm = max_drift_ppm
        self.min_drift_span_s = min_drift_span_s
        self.reset()

    def reset(self) -> None:
        """Forget everything (after a sensor clock reset)."""
        self.fit_: ClockFit | None = None
        self.n_updates_ = 0
        self._x0: float | None = None
        self._h0 = 0.0
        self._bx: deque[float] = deque()
        self._by: deque[float] = deque()
        self._bucket_start = 0.0
        self._cur_x = 0.0
        self._cur_y = float("inf")
        self._has_cur = False

    def update(self, sensor_time_s: float, host_time_s: float) -> ClockModel:
        """Feed one pair (sensor time of a packet's last sample, host receive time)."""
        self.n_updates_ += 1
        if self._x0 is None:
            self._x0, self._h0 = float(sensor_time_s), float(host_time_s)
            self._bucket_start = 0.0
        x = float(sensor_time_s) - self._x0
        y = (float(host_time_s) - self._h0) - x
        if self._has_cur and x >= self._bucket_start + self.bucket_s:
            self._close_bucket()
            self._bucket_start = x - (x % self.bucket_s) if x >= 0 else x
        if not self._has_cur or y < self._cur_y:
            self._cur_x, self._cur_y = x, y
            self._has_cur = True
        if self.fit_ is None or len(self._bx) < 2:
            # Not enough history yet: lowest offset seen so far, no drift.
            self._refit()
        return self

    def _close_bucket(self) -> None:
        self._bx.append(self._cur_x)
        self._by.append(self._cur_y)
        self._has_cur = False
        self._cur_y = float("inf")
        while self._bx and self._bx[-1] - self._bx[0] > self.window_s:
            self._bx.popleft()
            self._by.popleft()
        self._refit()

    def _refit(self) -> None:
        assert self._x0 is not None, "set by the first update"
        xs = list(self._bx)
        ys = list(self._by)
        if self._has_cur:
            xs.append(self._cur_x)
            ys.append(self._cur_y)
        if not xs:
            return
        x = np.asarray(xs)
        y = np.asarray(ys)
        if len(self._bx) < 2 or x[-1] - x[0] < self.min_drift_span_s:
            intercept, slope = float(np.min(y)), 0.0
        else:
            intercept, slope = _envelope_line(x, y)
            limit = self.max_drift_ppm * 1e-6
            if abs(slope) > limit:
                slope = float(np.clip(slope, -limit, limit))
                intercept = float(np.min(y - slope * x))
        xr = float(x[-1])
        self.fit_ = ClockFit(
            sensor_ref_s=self._x0 + xr,
            host_ref_s=self._h0 + xr + intercept + slope * xr,
            drift_ppm=slope * 1e6,
            n_points=int(x.size),
            span_s=float(x[-1] - x[0]),
        )

    @overload
    def to_host(self, sensor_time_s: float) -> float: ...
    @overload
    def to_host(self, sensor_time_s: np.ndarray) -> np.ndarray: ...

    def to_host(self, sensor_time_s: np.ndarray | float) -> np.ndarray | float:
        """Map sensor time (unwrapped seconds) to host time with the current fit."""
        if self.fit_ is None:
            raise RuntimeError("ClockModel.to_host called before any update")
        return self.fit_.to_host(sensor_time_s)

    @property
    def drift_ppm(self) -> float:
        """Current drift estimate (0 until the window spans ``min_drift_span_s``)."""
        return 0.0 if self.fit_ is None else self.fit_.drift_ppm
