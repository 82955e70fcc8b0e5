"""From one sensor's recorded packets to a uniform time grid (:class:`SensorData`).

Used by :func:`sensors.recording.load_recording` through each sensor's driver.
:func:`build_device_data` is the path of every device driver (the live decoder, samples
placed by the device's sample index, see below); :func:`build_sensor_data` is the Poise
wearable's (format 1: the codec's vectorised ``decode_many``). Its steps:

1. decode all packets with :func:`firmware_protocol.codec.decode_many` (the live decoder;
   if one packet is malformed, packets are decoded one by one and the bad ones reported);
2. unwrap the 32-bit (24-bit compact) microsecond sensor clock, choosing the wrap count
   from the host receive times, and split at clock restarts (not at a delivery stall: a
   backlog that comes back on time stays on one clock line, :func:`_stays_late`);
3. place every sample on the nominal grid of its sensor clock (index = round(dt / period)),
   keep the first copy of duplicates, leave NaN rows where samples are missing;
4. map sensor time to host time (seconds since the recording start) with the
   lower-envelope linear fit of (sensor time of a packet's last sample, host receive time)
   (:func:`sensors.clock.fit_clock`, Moon et al. 1999), so the grid stays uniform
   (spacing = period x (1 + drift));
5. list gaps: holes in the grid (sequence/timestamp holes) merged with the GAP records the
   stream wrote (which also cover losses before the first or after the last sample), so a
   loss reported both ways is counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

import numpy as np

from firmware_protocol import codec
from firmware_protocol.types import SampleBlock, SensorConfig
from sensors.clock import ClockFit, fit_clock

__all__ = ["Gap", "SensorData", "build_device_data", "build_sensor_data", "max_grid_rows"]

#: A time grid holds at most this many missing rows per received sample ...
MAX_MISSING_PER_SAMPLE = 3
#: ... or, if more, this many seconds of missing rows (a sensor out of range for minutes) ...
MAX_MISSING_S = 600.0
#: ... but never more than this many missing rows per received sample.
MAX_MISSING_CAP_PER_SAMPLE = 100


def max_grid_rows(n_samples: int, rate_hz: float) -> int:
    """The largest uniform time grid for ``n_samples`` samples at ``rate_hz``.

    ``n + max(3 n, min(10 min x rate, 100 n))`` rows: room for real outages (up to three
    times the data, or ten minutes), while the memory stays in proportion to the samples
    whatever their times say (a damaged time of 1e7 s would otherwise ask for a grid of
    22 GiB). Used for recordings (:func:`build_sensor_data`) and CSV time columns.
    """
    n = int(n_samples)
    extra = max(
        MAX_MISSING_PER_SAMPLE * n,
        min(int(MAX_MISSING_S * float(rate_hz)), MAX_MISSING_CAP_PER_SAMPLE * n),
    )
    return n + extra


@dataclass(frozen=True)
class Gap:
    """Missing samples of one sensor.

    Attributes
    ----------
    start_s
        Time of the first missing sample, seconds from the recording start.
    end_s
        Time of the first sample after the gap (exclusive end), same clock.
    samples
        Number of missing sample slots, ``(end_s - start_s) * rate`` up to drift.
    reason
        Where it came from: ``"missing samples"`` (a hole in the received data) and/or
        the reasons of the GAP records that describe it.
    """

    start_s: float
    end_s: float
    samples: int
    reason: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form (``start_s``, ``end_s``, ``samples``, ``reason``)."""
        return {
            "start_s": float(self.start_s),
            "end_s": float(self.end_s),
            "samples": int(self.samples),
            "reason": self.reason,
        }


@dataclass
class SensorData:
    """One sensor's samples on a uniform time grid from the recording start.

    Attributes
    ----------
    id, placement, config
        From the recording header (``config``: the driver's configuration, with
        ``sampling_rate_hz``, ``acc_range_g`` and ``gyro_range_dps``).
    t_s
        Time of every grid row, seconds from the recording start (host clock), uniform.
    acc_mps2, gyr_radps
        (n, 3) float64 in the sensor frame; rows of missing samples are NaN.
    gaps
        :class:`Gap` list in time order.
    clock
        The sensor-to-host clock fit used (``None`` without packets).
    duplicates
        Received samples dropped because their grid slot was already filled.
    clock_resets
        How many times the sensor clock restarted (each later segment is placed through
        host time).
    kind
        The sensor's driver kind (:mod:`sensors.devices`).
    device
        ``{"kind", "model", "firmware"}`` as far as the recording says.
    """

    id: str
    placement: str | None
    config: Any
    t_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray
    gaps: list[Gap] = field(default_factory=list)
    clock: ClockFit | None = None
    duplicates: int = 0
    clock_resets: int = 0
    kind: str = "poise"
    device: dict = field(default_factory=dict)

    @property
    def sampling_rate_hz(self) -> float:
        """Nominal rate of the configuration."""
        return self.config.sampling_rate_hz

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of rows that hold a received sample."""
        return ~np.isnan(self.acc_mps2[:, 0])

    @property
    def n_samples(self) -> int:
        """Number of received (non-NaN) samples."""
        return int(np.count_nonzero(self.valid))


_FULL_BYTE0 = 0x11  # SPEC.md 3.2: version 1, packet type 1
_COMPACT_BYTE0 = 0x12  # SPEC.md 3.3: version 1, packet type 2
_COMPACT_BITS = 24


def _decode_mixed(
    packets: list[bytes], config: SensorConfig, is_compact: np.ndarray, errors: list
) -> SampleBlock:
    """Decode a recording holding both layouts (the MTU changed at a reconnect).

    Each layout is decoded on its own (:func:`codec.decode_many` refuses to mix them) and
    the samples are put back in receive order. Full packets' 32-bit timestamps are cut to
    their low 24 bits, the width of the compact ones (SPEC.md 3.5: both count the same
    sensor clock); the host-time unwrap restores them.
    """
    parts = []
    for want in (False, True):
        idx = np.flatnonzero(is_compact == want)
        errs: list = []
        blk = codec.decode_many([packets[i] for i in idx], config, errors=errs)
        errors.extend((int(idx[i]), exc) for i, exc in errs)
        bad = {i for i, _ in errs}
        kept = np.array([i for k, i in enumerate(idx) if k not in bad], dtype=np.int64)
        cnt = np.ones(kept.size, dtype=np.int64) if want else None
        if not want:
            lengths = np.fromiter((len(packets[i]) for i in kept), np.int64, count=kept.size)
            cnt = (lengths - codec.FULL_OVERHEAD) // codec.SAMPLE_SIZE
        parts.append((kept, cnt, blk))
    kept = np.concatenate([p[0] for p in parts])
    cnt = np.concatenate([p[1] for p in parts])
    order = np.argsort(kept, kind="stable")
    # row ranges of every packet in the concatenated (full, then compact) sample arrays
    first = np.cumsum(cnt) - cnt
    rows = np.repeat(first[order], cnt[order]) + (
        np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt[order]) - cnt[order], cnt[order])
    )
    acc = np.concatenate([p[2].acc_mps2 for p in parts])[rows]
    gyr = np.concatenate([p[2].gyr_radps for p in parts])[rows]
    ts = np.concatenate([p[2].timestamp_us for p in parts])[rows] & ((1 << _COMPACT_BITS) - 1)
    return SampleBlock(
        seq=0,
        timestamp_us=ts,
        acc_mps2=acc,
        gyr_radps=gyr,
        sampling_rate_hz=config.sampling_rate_hz,
        packet_count=int(kept.size),
        timestamp_bits=_COMPACT_BITS,
    )


def _decode(
    packets: list[bytes], config: SensorConfig, sensor_id: str
) -> tuple[SampleBlock, np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """Decode packets; return (block, kept packet indices, samples per kept packet, bad)."""
    errors: list = []
    byte0 = np.fromiter((p[0] if len(p) else -1 for p in packets), np.int64, count=len(packets))
    is_compact = byte0 == _COMPACT_BYTE0
    if is_compact.any() and (byte0 == _FULL_BYTE0).any():
        block = _decode_mixed(packets, config, is_compact, errors)
        errors.sort(key=lambda e: e[0])
    else:
        block = codec.decode_many(packets, config, errors=errors)
    bad = [
        (int(i), f"sensor {sensor_id}: packet rejected by the decoder: {exc}") for i, exc in errors
    ]
    keep = np.ones(len(packets), dtype=bool)
    keep[[i for i, _ in bad]] = False
    kept = np.flatnonzero(keep)
    # compact packets hold one sample; the codec checked that a full one's length matches
    lengths = np.fromiter((len(packets[k]) for k in kept), dtype=np.int64, count=kept.size)
    counts = np.where(
        is_compact[kept], 1, (lengths - codec.FULL_OVERHEAD) // codec.SAMPLE_SIZE
    ).astype(np.int64)
    return block, kept, counts, bad


def _unwrap_packets(first_raw: np.ndarray, host_s: np.ndarray, bits: int) -> np.ndarray:
    """Unwrap packet timestamps, using host receive times to pick the wrap count.

    Each step between consecutive packets is the raw step modulo ``2**bits`` plus the
    multiple of ``2**bits`` that brings it closest to the host-time step. Unlike a plain
    signed-modulo unwrap this survives gaps longer than half the wrap period (8.4 s for
    the 24-bit compact layout).
    """
    mod = 1 << bits
    raw = np.asarray(first_raw, dtype=np.int64) % mod
    if raw.size == 0:
        return raw
    raw_step = np.diff(raw) % mod
    pred_step = np.diff(host_s) * 1e6
    step = raw_step + mod * np.rint((pred_step - raw_step) / mod).astype(np.int64)
    out = np.empty_like(raw)
    out[0] = raw[0]
    np.cumsum(step, out=out[1:])
    out[1:] += raw[0]
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where ``mask`` is True."""
    m = np.concatenate(([0], mask.astype(np.int8), [0]))
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _gap_from_record(g: dict) -> tuple[int, str]:
    samples = int(g.get("samples", 0) or 0)
    reason = str(g.get("reason") or g.get("cause") or "gap record")
    return samples, reason


def _finite(x: object) -> TypeGuard[float]:
    return isinstance(x, int | float) and bool(np.isfinite(x))


@dataclass
class _Placement:
    """Where the samples of some packets go on the grid (see :func:`_place`).

    Kept per packet (the unwrapped time of its first sample, its sample count and clock
    segment) so that the grid index of any packet's samples can be computed without the
    others' (:meth:`sample_k`): :mod:`sensors.longread` places a week of samples a piece
    at a time, with the same arithmetic as the whole-file path.
    """

    pk_ts: np.ndarray  # unwrapped sensor time (us) of every packet's first sample
    counts: np.ndarray  # samples per packet
    segment: np.ndarray  # clock segment of every packet
    fits: list[ClockFit]  # one clock fit per segment
    ref: int  # unwrapped sensor time (us) of grid index 0 before shifting by k.min()
    period: int  # sample period (us)

    @property
    def fit(self) -> ClockFit:
        """Segment 0's clock fit (the grid's clock)."""
        return self.fits[0]

    @property
    def n_seg(self) -> int:
        return len(self.fits)

    def sample_k(self, packets: np.ndarray | None = None) -> np.ndarray:
        """Grid index (segment 0's clock, nominal period) of every sample of ``packets``
        (indices into this placement's packets, ascending; all if None), in packet order."""
        pk_ts, counts, segment = self.pk_ts, self.counts, self.segment
        if packets is not None:
            pk_ts, counts, segment = pk_ts[packets], counts[packets], segment[packets]
        starts = np.cumsum(counts) - counts
        within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
        ts = np.repeat(pk_ts, counts) + within * self.period  # unwrapped time of every sample
        ref, period = self.ref, self.period
        if self.n_seg == 1:
            return np.rint((ts - ref) / period).astype(np.int64)
        # later segments: own fit to host time, then into segment 0's clock
        fits = self.fits
        seg_s = np.repeat(segment, counts)
        later = seg_s > 0
        sref = np.array([round(f.sensor_ref_s * 1e6) for f in fits], dtype=np.int64)
        href = np.array([f.host_ref_s for f in fits])
        scale = np.array([f.scale for f in fits])
        j = seg_s[later]
        host_s = href[j] + (ts[later] - sref[j]) * 1e-6 * scale[j]  # ClockFit.to_host_us
        master_us = ts.astype(np.float64)
        master_us[later] = np.asarray(fits[0].to_sensor(host_s)) * 1e6
        return np.rint((master_us - ref) / period).astype(np.int64)

    @property
    def packet_k(self) -> np.ndarray:
        """Grid index of every packet's first sample."""
        one = _Placement(
            self.pk_ts, np.ones_like(self.counts), self.segment, self.fits, self.ref, self.period
        )
        return one.sample_k()

    def k_range(self, batch: int = 1 << 13) -> tuple[int, int]:
        """(min, max) grid index of all samples, computed ``batch`` packets at a time."""
        lo, hi = None, None
        for a in range(0, self.counts.size, batch):
            k = self.sample_k(np.arange(a, min(a + batch, self.counts.size)))
            if k.size:
                lo = int(k.min()) if lo is None else min(lo, int(k.min()))
                hi = int(k.max()) if hi is None else max(hi, int(k.max()))
        return (0, -1) if lo is None or hi is None else (lo, hi)

    @property
    def span_rows(self) -> int:
        lo, hi = self.k_range()
        return hi - lo + 1

    def subset(self, keep: np.ndarray) -> _Placement:
        """Only the packets ``keep`` (bool per packet), placed as they are."""
        return _Placement(
            self.pk_ts[keep],
            self.counts[keep],
            self.segment[keep],
            self.fits,
            self.ref,
            self.period,
        )


def _place(
    first_raw: np.ndarray,
    host: np.ndarray,
    counts: np.ndarray,
    bits: int,
    period: int,
    max_step_back_s: float,
    max_clock_error_s: float,
) -> _Placement:
    """Unwrap packet timestamps, split at clock restarts and fit each segment's clock
    (steps 2-4 of the module docstring); the samples' grid indices come from
    :meth:`_Placement.sample_k`."""
    pk_ts = _unwrap_packets(first_raw, host, bits)
    # clock restarts: big step back, a step far ahead of the host clock's, or one far behind
    # it that stays behind (a packet that only came late is delivery, see _stays_late)
    step = np.diff(pk_ts)
    host_step = np.diff(host) * 1e6
    limit_us = max_clock_error_s * 1e6
    reset = (step < -max_step_back_s * 1e6) | (step - host_step > limit_us)
    late = ~reset & (host_step - step > limit_us)
    if late.any():
        window = int(DRAIN_WINDOW_S * 1e6 // period) + 1  # packets of >= 1 sample each
        reset |= _stays_late(pk_ts, host, reset, np.flatnonzero(late), limit_us, window)
    segment = np.concatenate(([0], np.cumsum(reset)))
    last_s = (pk_ts + (counts - 1) * period) * 1e-6  # sensor time of every packet's last sample
    # segments are runs of consecutive packets: fit each on its slice
    bounds = np.concatenate(([0], np.flatnonzero(reset) + 1, [segment.size]))
    fits = [fit_clock(last_s[a:b], host[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    return _Placement(pk_ts, counts, segment, fits, int(pk_ts[0]), period)


#: A backlog (packets held up, then delivered in a burst) must drain within as many
#: packets as the sensor makes samples in this time to count as late delivery rather than
#: a clock restart (packets of 19 samples: 19 min, where 100 ppm of drift moves the offset
#: by 0.1 s, far below the 5 s that decide).
DRAIN_WINDOW_S = 60.0


def _stays_late(
    pk_ts: np.ndarray,
    host: np.ndarray,
    reset: np.ndarray,
    late: np.ndarray,
    limit_us: float,
    window: int,
) -> np.ndarray:
    """Which of the steps ``late`` (host time ran ahead of the sensor clock by more than
    ``limit_us``) are clock restarts: those after which none of the next ``window`` packets
    (before the next restart in ``reset``) comes back within ``limit_us`` of the offset
    (host - sensor time) before the step.

    A busy host or radio stack can hold notifications up for seconds and then deliver the
    backlog in a burst: the sensor's clock kept counting, the burst's last packets are on
    time again, and one clock line fits before and after (the live clock model, which
    takes the lowest offset, never saw a restart). A sensor clock that really restarted at
    a value just past the old one stays that many seconds behind.
    """
    off = host * 1e6 - pk_ts  # offset (us) of every packet: clock offset + latency
    # the packets after step j (which separates packet j from j + 1) up to the next step
    # of either kind: disjoint slices, so a hostile file with many such steps stays O(n)
    # (a second stall before the first backlog drained counts as a restart, as before)
    cuts = np.union1d(np.flatnonzero(reset), late)
    out = np.zeros(reset.size, dtype=bool)
    for j in late:
        k = np.searchsorted(cuts, j, side="right")
        end = min(int(cuts[k]) + 1 if k < cuts.size else pk_ts.size, j + 1 + window)
        out[j] = off[j + 1 : end].min() - off[j] > limit_us
    return out


def _densest_window(packet_k: np.ndarray, counts: np.ndarray, limit: int) -> np.ndarray:
    """Packets whose first sample lies in the ``limit``-row window holding most samples."""
    order = np.argsort(packet_k, kind="stable")
    ks = packet_k[order]
    cw = np.concatenate(([0], np.cumsum(counts[order])))
    end = np.searchsorted(ks, ks + limit, side="left")
    best = int(np.argmax(cw[end] - cw[: ks.size]))
    lo = ks[best]
    return (packet_k >= lo) & (packet_k < lo + limit)


def _left_out(
    inside: np.ndarray,
    item_k: np.ndarray,
    counts: np.ndarray,
    records: np.ndarray | list[int],
    limit: int,
    period_s: float,
    sensor_id: str,
    what: str = "packet",
) -> list[tuple[int, str]]:
    """One damage entry per run (in receive order) of packets (frames) outside the window,
    at the record of its first: ``(record index, reason)``."""
    out = []
    centre = np.median(item_k[inside])
    n_in = int(counts[inside].sum())
    m = np.concatenate(([0], (~inside).astype(np.int8), [0]))
    d = np.diff(m)
    for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
        away_s = float(np.median(item_k[a:b]) - centre) * period_s
        out.append(
            (
                int(records[a]),
                f"sensor {sensor_id}: {b - a} {what}(s) ({int(counts[a:b].sum())} samples) "
                f"from here lie {away_s:+.6g} s from the other {n_in} samples, beyond the time "
                f"grid's limit ({limit} rows for these samples); a sensor or host time is "
                "damaged: left out",
            )
        )
    return out


def _gaps_without_samples(gap_records: list[dict]) -> list[Gap]:
    gaps = []
    for g in gap_records:
        samples, reason = _gap_from_record(g)
        s = g.get("start_s", g.get("start_host_s"))
        e = g.get("end_s", g.get("end_host_s"))
        gaps.append(
            Gap(
                float(s) if _finite(s) else float("nan"),
                float(e) if _finite(e) else float("nan"),
                samples,
                reason,
            )
        )
    return gaps


def build_sensor_data(
    *,
    sensor_id: str,
    placement: str | None,
    config: SensorConfig,
    packets: list[bytes],
    host_times_s: list[float],
    gap_records: list[dict] = (),  # type: ignore[assignment]
    max_step_back_s: float = 5.0,
    max_clock_error_s: float = 5.0,
) -> tuple[SensorData, list[tuple[int, str]]]:
    """Build :class:`SensorData` from one sensor's packets in receive order.

    Parameters
    ----------
    sensor_id, placement, config
        From the header.
    packets
        Raw data packets as received.
    host_times_s
        Host receive time of each packet, seconds since the recording start.
    gap_records
        The sensor's GAP records (dicts, see ``RecordingWriter.write_gap``).
    max_step_back_s, max_clock_error_s
        A packet whose timestamp steps back by more than ``max_step_back_s``, or whose
        timestamp step exceeds its host-time step by more than ``max_clock_error_s``, or
        falls short of it by more than that and the following packets stay that late
        (not a backlog delivered late, see :func:`_stays_late`), starts a new clock
        segment (the sensor's clock restarted). Each segment gets its own clock fit and
        is placed on the grid of the first segment through host time.

    Returns
    -------
    (SensorData, bad)
        ``bad`` lists ``(packet index, reason)`` for packets the codec rejected.
    """
    packets = list(packets)
    block, kept, counts, bad = _decode(packets, config, sensor_id)
    period = config.sample_period_us
    if kept.size == 0:
        gaps = _gaps_without_samples(list(gap_records))
        empty = np.empty((0, 3))
        return SensorData(sensor_id, placement, config, np.empty(0), empty, empty.copy(), gaps), bad

    bits = int(getattr(block, "timestamp_bits", 32))
    host_all = np.asarray(host_times_s, dtype=np.float64)[kept]
    starts_all = np.cumsum(counts) - counts  # first row of each packet in the block
    first_raw_all = np.asarray(block.timestamp_us, dtype=np.int64)[starts_all]
    limit = max_grid_rows(int(counts.sum()), config.sampling_rate_hz)
    sel, pl, left_out = _fit_grid(
        first_raw_all,
        host_all,
        counts,
        kept,
        bits,
        period,
        limit,
        max_step_back_s,
        max_clock_error_s,
        sensor_id,
    )
    bad.extend(left_out)
    bad.sort(key=lambda b: b[0])
    k = pl.sample_k()
    counts = counts[sel]
    starts = starts_all[sel]
    rows = np.repeat(starts, counts) + (
        np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    kmin = int(k.min())
    idx = k - kmin
    n = int(idx.max()) + 1
    uniq, first = np.unique(idx, return_index=True)
    acc_g = np.full((n, 3), np.nan)
    gyr_g = np.full((n, 3), np.nan)
    acc_g[uniq] = block.acc_mps2[rows[first]]
    gyr_g[uniq] = block.gyr_radps[rows[first]]
    grid = _Grid(pl, kmin, n)
    present = np.zeros(n, dtype=bool)
    present[uniq] = True
    gaps = grid.gaps(_runs(~present), list(gap_records), bits)
    return (
        SensorData(
            id=sensor_id,
            placement=placement,
            config=config,
            t_s=grid.slot_time(np.arange(n)),
            acc_mps2=acc_g,
            gyr_radps=gyr_g,
            gaps=gaps,
            clock=pl.fit,
            duplicates=int(idx.size - uniq.size),
            clock_resets=pl.n_seg - 1,
        ),
        bad,
    )


def _fit_grid(
    first_raw_all: np.ndarray,
    host_all: np.ndarray,
    counts: np.ndarray,
    kept: np.ndarray,
    bits: int,
    period: int,
    limit: int,
    max_step_back_s: float,
    max_clock_error_s: float,
    sensor_id: str,
) -> tuple[np.ndarray, _Placement, list[tuple[int, str]]]:
    """Place the kept packets, leaving out those that would make the grid longer than
    ``limit`` rows (the window holding the most samples is kept and the clocks refitted).

    Returns the packets placed (indices into the kept packets), their placement and the
    damage entries of the packets left out (``(record index, reason)``, by ``kept``).
    """
    bad: list[tuple[int, str]] = []
    use = np.ones(kept.size, dtype=bool)  # packets placed on the grid
    for attempt in range(3):
        sel = np.flatnonzero(use)
        every = sel.size == use.size  # (no copies of a week's packet arrays)
        pl = _place(
            first_raw_all if every else first_raw_all[sel],
            host_all if every else host_all[sel],
            counts if every else counts[sel],
            bits,
            period,
            max_step_back_s,
            max_clock_error_s,
        )
        # a refit (after dropping) may move things a little: allow twice the limit then
        if pl.span_rows <= (limit if attempt == 0 else 2 * limit):
            break
        inside = _densest_window(pl.packet_k, counts[sel], limit)
        bad.extend(
            _left_out(inside, pl.packet_k, counts[sel], kept[sel], limit, period * 1e-6, sensor_id)
        )
        use[sel[~inside]] = False
        if attempt == 2:  # hostile beyond what refitting fixes: keep the window as placed
            pl = pl.subset(inside)
            sel = sel[inside]
    return sel, pl, bad


class _Grid:
    """A sensor's uniform time grid: ``n`` rows from grid index ``kmin`` of a placement."""

    def __init__(self, pl: _Placement, kmin: int, n: int) -> None:
        self.pl, self.kmin, self.n = pl, kmin, n
        fit = pl.fit
        self._ref_rel_s = pl.ref * 1e-6 - fit.sensor_ref_s  # small: sub-microsecond precision

    def slot_time(self, i: np.ndarray | int) -> np.ndarray:
        """Host time (s from the recording start) of grid rows ``i``."""
        fit = self.pl.fit
        rel_s = (self.kmin + np.asarray(i, dtype=np.int64)) * self.pl.period * 1e-6
        return fit.host_ref_s + (rel_s + self._ref_rel_s) * fit.scale

    def slot_of_host(self, t: float) -> int:
        us = float(self.pl.fit.to_sensor(float(t))) * 1e6
        return int(round((us - self.pl.ref) / self.pl.period)) - self.kmin

    def gaps(self, holes: list[tuple[int, int]], gap_records: list[dict], bits: int) -> list[Gap]:
        """Holes in the grid (``[start, end)`` rows) merged with the GAP records (step 5)."""
        pl, kmin, ref, period = self.pl, self.kmin, self.pl.ref, self.pl.period
        fit, mod = pl.fit, 1 << bits
        intervals: list[tuple[int, int, str]] = [(a, b, "missing samples") for a, b in holes]
        unplaced: list[Gap] = []
        for g in gap_records:
            samples, reason = _gap_from_record(g)
            j0 = j1 = None
            s_host = g.get("start_s", g.get("start_host_s"))
            e_host = g.get("end_s", g.get("end_host_s"))
            if g.get("start_us") is not None and (pl.n_seg == 1 or not _finite(s_host)):
                hint_s = g.get("t_s")
                hint_us = (
                    float(fit.to_sensor(float(hint_s))) * 1e6 if _finite(hint_s) else float(ref)
                )

                def place(raw: int, hint_us: float = hint_us) -> int:
                    base = int(raw) % mod
                    m = round((hint_us - base) / mod)
                    return int(round((base + m * mod - ref) / period)) - kmin

                j0 = place(g["start_us"])
                if g.get("end_us") is not None:
                    j1 = place(g["end_us"])
            elif _finite(s_host):
                j0 = self.slot_of_host(s_host)
                if _finite(e_host):
                    j1 = self.slot_of_host(e_host)
            if j0 is None:
                unplaced.append(Gap(float("nan"), float("nan"), samples, reason))
                continue
            if j1 is None or j1 <= j0:
                j1 = j0 + max(samples, 0)
            if j1 > j0:
                intervals.append((j0, j1, reason))

        intervals.sort()
        merged: list[list] = []
        for a, b, r in intervals:
            if merged and a <= merged[-1][1]:
                cur = merged[-1]
                cur[1] = max(cur[1], b)
                if r not in cur[2]:
                    cur[2].append(r)
            else:
                merged.append([a, b, [r]])
        gaps = [
            Gap(float(self.slot_time(a)), float(self.slot_time(b)), int(b - a), "; ".join(r))
            for a, b, r in merged
        ]
        gaps.extend(unplaced)
        return gaps


# --------------------------------------------------------------- any device: by sample index


def build_device_data(
    driver: Any,
    *,
    sensor_id: str,
    placement: str | None,
    config: Any,
    records: list[tuple[int, bytes]],
    host_times_s: list[float],
    gap_records: list[dict] | tuple[dict, ...] = (),
    max_step_back_s: float = 5.0,
    max_gap_s: float = 3600.0,
) -> tuple[SensorData, list[tuple[int, str]]]:
    """Build :class:`SensorData` from one sensor's raw notifications with its driver.

    1. Every notification goes through the driver's decoder in arrival order (the live
       decoder: same frames, same sample indices); rejected ones are reported.
    2. A frame whose index steps back by more than ``max_step_back_s`` (or forward by more
       than ``max_gap_s``) starts a new segment (the device's counter restarted), as the
       live :class:`sensors.gaps.GapTracker` decides.
    3. Samples go on a grid of sample indices (duplicates keep the first copy, missing
       indices are NaN rows); later segments are placed through host time.
    4. Device time -> host time: the lower-envelope fit (:func:`sensors.clock.fit_clock`,
       Moon et al. 1999) of (device time of each frame's last sample, host receive time),
       with the driver's drift limit; grid times follow a line fitted to device time
       against index, so the grid is uniform.
    5. Gaps: holes in the grid ("missing samples"), labelled with the reasons of the GAP
       records whose host-time span meets them; GAP records before the first or after
       the last received sample (no rows there) are listed with their own counts.

    Returns
    -------
    (SensorData, bad)
        ``bad`` lists ``(record index, reason)`` for notifications the decoder rejected.
    """
    rate = float(config.sampling_rate_hz)
    frames, fhost, frec, bad = _decode_frames(driver, config, records, host_times_s, sensor_id)
    kind = getattr(driver, "kind", "")
    if not frames:  # no rows; the GAP records with their own counts
        no_rows = np.empty((0, 3))
        gaps = _gaps_without_samples(list(gap_records))
        columns = (np.empty(0), no_rows, no_rows.copy())
        return SensorData(sensor_id, placement, config, *columns, gaps, kind=kind), bad

    seg = _frame_segments(frames, rate, max_step_back_s, max_gap_s)
    counts = np.array([f.n_samples for f in frames], dtype=np.int64)
    first = np.array([f.first_index for f in frames], dtype=np.int64)
    within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(counts) - counts, counts
    )
    idx = np.repeat(first, counts) + within
    st = np.concatenate([np.asarray(f.sensor_time_s, dtype=np.float64) for f in frames])
    acc = np.concatenate([f.acc_mps2 for f in frames])
    gyr = np.concatenate([f.gyr_radps for f in frames])
    host = np.asarray(fhost, dtype=np.float64)
    last_st = np.array([float(f.sensor_time_s[-1]) for f in frames])
    seg_s = np.repeat(seg, counts)
    drift = float(getattr(driver, "max_drift_ppm", 500.0))
    # segments are runs of consecutive frames: fit each on its slice
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(seg)) + 1, [seg.size]))
    fits = [
        fit_clock(last_st[a0:b0], host[a0:b0], max_drift_ppm=drift)
        for a0, b0 in zip(bounds[:-1], bounds[1:])
    ]
    fit = fits[0]
    a, b = _index_clock_line(idx[seg_s == 0], st[seg_s == 0], rate)
    rows = _grid_rows(idx, st, seg_s, fits, a, b)
    limit = max_grid_rows(int(counts.sum()), rate)
    if int(rows.max() - rows.min()) + 1 > limit:  # memory in proportion to the samples
        starts = np.cumsum(counts) - counts
        inside = _densest_window(rows[starts], counts, limit)
        keep = np.repeat(inside, counts)
        bad.extend(_left_out(inside, rows[starts], counts, frec, limit, b, sensor_id, "frame"))
        bad.sort(key=lambda e: e[0])
        rows, acc, gyr = rows[keep], acc[keep], gyr[keep]
    kmin = int(rows.min())
    acc_g, gyr_g, present, duplicates = _on_grid(rows - kmin, acc, gyr)
    t_s = np.asarray(fit.to_host(a + b * (kmin + np.arange(present.size, dtype=np.float64))))
    return (
        SensorData(
            id=sensor_id,
            placement=placement,
            config=config,
            t_s=t_s,
            acc_mps2=acc_g,
            gyr_radps=gyr_g,
            gaps=_grid_gaps(t_s, present, gap_records, rate),
            clock=fit,
            duplicates=duplicates,
            clock_resets=int(seg[-1]),
            kind=kind,
        ),
        bad,
    )


def _on_grid(
    rows: np.ndarray, acc: np.ndarray, gyr: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Samples on rows ``0..rows.max()`` (the first copy of a row wins, missing rows are
    NaN): ``(acc, gyr, present, number of duplicates)``."""
    n = int(rows.max()) + 1
    uniq, firstpos = np.unique(rows, return_index=True)
    acc_g = np.full((n, 3), np.nan)
    gyr_g = np.full((n, 3), np.nan)
    acc_g[uniq] = acc[firstpos]
    gyr_g[uniq] = gyr[firstpos]
    present = np.zeros(n, dtype=bool)
    present[uniq] = True
    return acc_g, gyr_g, present, int(rows.size - uniq.size)


def _decode_frames(
    driver: Any,
    config: Any,
    records: list[tuple[int, bytes]],
    host_times_s: list[float],
    sensor_id: str,
) -> tuple[list[Any], list[float], list[int], list[tuple[int, str]]]:
    """Every notification through a new decoder of ``driver``, in arrival order.

    Returns the frames with samples, their host receive times, the record each came from,
    and ``(record index, reason)`` of the notifications the decoder rejected.
    """
    from sensors.devices.base import DecodeError

    decoder = driver.new_decoder(config)
    frames: list[Any] = []
    fhost: list[float] = []
    frec: list[int] = []  # the record each frame came from
    bad: list[tuple[int, str]] = []
    for k, (channel, data) in enumerate(records):
        try:
            out = decoder.feed(int(channel), bytes(data))
        except DecodeError as exc:
            bad.append((k, f"sensor {sensor_id}: notification rejected by the decoder: {exc}"))
            continue
        for f in out:
            if f.n_samples:
                frames.append(f)
                fhost.append(float(host_times_s[k]))
                frec.append(k)
    return frames, fhost, frec, bad


def _frame_segments(
    frames: list[Any], rate: float, max_step_back_s: float, max_gap_s: float
) -> np.ndarray:
    """The segment of every frame, as the live tracker decides: a new one where the index
    steps back by more than ``max_step_back_s`` or forward by more than ``max_gap_s``
    (one pass over frames, not samples)."""
    seg = np.zeros(len(frames), dtype=np.int64)
    nxt = None
    j = 0
    for i, f in enumerate(frames):
        if nxt is not None:
            delta = f.first_index - nxt
            if delta < -max_step_back_s * rate or delta > max_gap_s * rate:
                j += 1
                nxt = None
        seg[i] = j
        end = f.first_index + f.n_samples
        nxt = end if nxt is None else max(nxt, end)
    return seg


def _index_clock_line(idx: np.ndarray, st: np.ndarray, rate: float) -> tuple[float, float]:
    """``(a, b)``: device time = ``a + b * index`` fitted on the first segment's samples
    (uniform grid times)."""
    i0 = idx.astype(np.float64)
    if np.ptp(i0) > 0:
        b, a = np.polyfit(i0 - i0[0], st - st[0], 1)
        a += st[0] - b * i0[0]
    else:
        b, a = 1.0 / rate, float(st[0] - idx[0] / rate)
    return float(a), float(b) if b > 0 else 1.0 / rate


def _grid_rows(
    idx: np.ndarray, st: np.ndarray, seg_s: np.ndarray, fits: list[Any], a: float, b: float
) -> np.ndarray:
    """The grid row of every sample: its index in the first segment; in later segments the
    index their own clock fit gives through host time, in the first segment's clock."""
    master = idx.astype(np.float64)
    later = seg_s > 0
    if later.any():
        q = seg_s[later]
        sref = np.array([f.sensor_ref_s for f in fits])
        href = np.array([f.host_ref_s for f in fits])
        scale = np.array([f.scale for f in fits])
        host_s = href[q] + (st[later] - sref[q]) * scale[q]  # ClockFit.to_host
        master[later] = (np.asarray(fits[0].to_sensor(host_s), dtype=np.float64) - a) / b
    return np.rint(master).astype(np.int64)


def _record_host_s(g: dict, *keys: str) -> float:
    """The first of ``keys`` a GAP record has, as host seconds; NaN if absent or not finite."""
    for key in keys:
        if key in g:
            v = g[key]
            return float(v) if _finite(v) else float("nan")
    return float("nan")


def _grid_gaps(
    t_s: np.ndarray, present: np.ndarray, gap_records: list[dict] | tuple[dict, ...], rate: float
) -> list[Gap]:
    """Holes in the grid ("missing samples"), labelled with the reasons of the GAP records
    whose host-time span meets them; GAP records before the first or after the last
    received sample are listed with their own counts."""
    n = t_s.size
    holes = [(a0, b0, ["missing samples"]) for a0, b0 in _runs(~present)]
    period_host = float(np.median(np.diff(t_s))) if n > 1 else 1.0 / rate
    rows = np.flatnonzero(present)
    first_t, last_t = float(t_s[rows[0]]), float(t_s[rows[-1]])
    outside: list[Gap] = []
    for g in gap_records:
        samples, reason = _gap_from_record(g)
        s_host = _record_host_s(g, "start_s", "start_host_s")
        e_host = _record_host_s(g, "end_s", "end_host_s")
        if not np.isfinite(s_host):
            outside.append(Gap(float("nan"), float("nan"), samples, reason))
            continue
        e = e_host if np.isfinite(e_host) else s_host + samples * period_host
        if e <= first_t + 0.5 * period_host or s_host >= last_t - 0.5 * period_host:
            outside.append(Gap(s_host, e, samples, reason))
            continue
        for h0, h1, reasons in holes:  # interior: the hole is the loss; add the reason
            hs, he = float(t_s[h0]), float(t_s[h1 - 1]) + period_host
            if hs < e + period_host and s_host < he + period_host:
                if reason not in reasons:
                    reasons.append(reason)
    gaps = [
        Gap(float(t_s[a0]), float(t_s[b0 - 1] + period_host), int(b0 - a0), "; ".join(r))
        for a0, b0, r in holes
    ]
    gaps.extend(outside)
    gaps.sort(key=lambda g: (not np.isfinite(g.start_s), g.start_s))
    return gaps
