"""Recordings longer than memory (a week of 100 Hz samples): read in pieces, same numbers.

:func:`sensors.recording.load_recording` holds every sample (and, while it reads, every
raw packet) in memory: a week at 100 Hz is 60 million samples per sensor, 2.9 GB as
float64. :func:`open_recording` reads the same file in two passes and keeps per sensor
only what places samples on the time grid:

1. **Index** (one pass over the file, mapped, pages released behind the reader): every
   record is read and checked by :class:`sensors.recording.RecordingReader` as
   :func:`load_recording` reads it (the same damage, events, gaps, notes). A Poise
   wearable's packets are decoded in batches by the same decoder (the codec's checks and
   CRC-16), and of each packet only its place in the file, its host time, its sample count
   and its first timestamp are kept (about 50 bytes per packet of 19 samples). The clock
   fit, the clock segments and the time-grid limit are those of
   :func:`sensors.timeline.build_sensor_data`, computed on the packets
   (:class:`sensors.timeline._Placement`); the grid's holes (a bit per row) give the gaps.
2. **Samples on demand**: :meth:`LongSensor.rows` reads and decodes only the packets that
   hold rows ``[i0, i1)`` and places them with the same arithmetic: the rows equal those
   of :func:`load_recording` bit for bit (tested on hostile random recordings).

Memory: about 50 bytes per packet plus one byte per grid row, plus the rows asked for;
about 250 MB for a week of one sensor at 100 Hz (``bench/week.py`` measures it).

Limits (said plainly): sensors of other kinds (Polar, MetaMotion: NOTIFY records decoded
by stateful drivers) are built whole in memory, as :func:`load_recording` builds them;
only Poise wearables (PACKET records, the home-monitoring sensor) are read in pieces.
"""

from __future__ import annotations

import mmap
import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from firmware_protocol import codec
from sensors.recording import (
    REC_HEAD_SIZE,
    Damage,
    Recording,
    RecordingError,
    RecordingReader,
    RecordType,
    _assemble,
    _device_description,
    _header_sensors,
    _stray_damage,
    _walk_records,
)
from sensors.timeline import (
    _COMPACT_BITS,
    _COMPACT_BYTE0,
    _FULL_BYTE0,
    Gap,
    SensorData,
    _decode,
    _fit_grid,
    _gaps_without_samples,
    _Grid,
    _Placement,
    max_grid_rows,
)

__all__ = ["LongRecording", "LongSensor", "open_recording"]

#: Packets decoded together while indexing (2 MB of packets, 20 MB decoded).
BATCH_PACKETS = 1 << 13
#: The index pass releases the mapped file's pages behind it every this many bytes, so the
#: resident memory does not grow with the file.
RELEASE_BYTES = 64 << 20
_PACKET_DATA = 9  # PACKET payload: sensor index (u8) and host time (f64) before the packet
_NOTIFY_DATA = 10  # NOTIFY payload: sensor index, host time, channel


class _PoiseIndex:
    """Index of one Poise wearable's packets, built while the file is read."""

    def __init__(self, sensor_id: str, config: Any) -> None:
        self.sensor_id = sensor_id
        self.config = config
        self.rec_offset = array("q")  # record offset of every packet (damage messages)
        self.data_offset = array("q")  # file offset of every packet's bytes
        self.data_len = array("i")
        self.host = array("d")
        self.kept = array("q")  # packets the decoder accepted (indices of all packets)
        self.counts = array("q")
        self.first_raw = array("q")  # first sample's timestamp as sent
        self.bad: list[tuple[int, str]] = []
        self.has_full = False
        self.has_compact = False
        self._pending: list[bytes] = []
        self._base = 0  # index of the first pending packet

    def add(self, rec_offset: int, data_offset: int, host: float, packet: bytes) -> None:
        self.rec_offset.append(rec_offset)
        self.data_offset.append(data_offset)
        self.data_len.append(len(packet))
        self.host.append(host)
        self._pending.append(packet)
        if len(self._pending) >= BATCH_PACKETS:
            self.flush()

    def flush(self) -> None:
        """Decode the pending packets: keep what places them, drop the samples."""
        pk = self._pending
        if not pk:
            return
        byte0 = np.fromiter((p[0] if len(p) else -1 for p in pk), np.int64, count=len(pk))
        self.has_full |= bool((byte0 == _FULL_BYTE0).any())
        self.has_compact |= bool((byte0 == _COMPACT_BYTE0).any())
        block, kept, counts, bad = _decode(pk, self.config, self.sensor_id)
        self.bad.extend((self._base + i, reason) for i, reason in bad)
        starts = np.cumsum(counts) - counts
        self.kept.extend((kept + self._base).tolist())
        self.counts.extend(counts.tolist())
        self.first_raw.extend(np.asarray(block.timestamp_us, dtype=np.int64)[starts].tolist())
        self._base += len(pk)
        self._pending = []


def _as_int64(a: array) -> np.ndarray:
    return np.frombuffer(a, dtype=np.int64) if len(a) else np.empty(0, dtype=np.int64)


class LongSensor:
    """One sensor of a :class:`LongRecording`: its time grid, gaps and rows on demand.

    Attributes mirror :class:`sensors.timeline.SensorData` (``id``, ``placement``,
    ``config``, ``gaps``, ``clock``, ``duplicates``, ``clock_resets``, ``kind``,
    ``device``); ``n_rows`` is the grid's length and ``t_s`` a lazy view of its times
    (``len``, indexing, slicing, :meth:`UniformTimes.searchsorted`).
    """

    def __init__(
        self,
        sd: SensorData,
        n_rows: int,
        times: UniformTimes,
        reader: _RowReader | None,
        n_samples: int,
    ) -> None:
        self._sd = sd  # arrays empty when ``reader`` reads the rows
        self.id = sd.id
        self.placement = sd.placement
        self.config = sd.config
        self.gaps: list[Gap] = sd.gaps
        self.clock = sd.clock
        self.duplicates = sd.duplicates
        self.clock_resets = sd.clock_resets
        self.kind = sd.kind
        self.device = sd.device
        self.n_rows = int(n_rows)
        self.t_s = times
        self._reader = reader
        self._n_samples = int(n_samples)

    @property
    def sampling_rate_hz(self) -> float:
        """Nominal rate of the configuration."""
        return float(self.config.sampling_rate_hz)

    @property
    def n_samples(self) -> int:
        """Received (non-NaN) samples."""
        return self._n_samples

    def __len__(self) -> int:
        return self.n_rows

    def rows(self, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(t_s, acc_mps2, gyr_radps)`` of grid rows ``[i0, i1)`` (clipped to the grid)."""
        i0, i1 = max(int(i0), 0), min(int(i1), self.n_rows)
        if i1 <= i0:
            e = np.empty((0, 3))
            return np.empty(0), e, e.copy()
        if self._reader is None:
            sd = self._sd
            return sd.t_s[i0:i1], sd.acc_mps2[i0:i1], sd.gyr_radps[i0:i1]
        acc, gyr = self._reader.read(i0, i1)
        return self.t_s[i0:i1], acc, gyr

    def sensor_data(self, i0: int = 0, i1: int | None = None) -> SensorData:
        """Rows ``[i0, i1)`` as a :class:`SensorData` (with the gaps that meet them)."""
        i1 = self.n_rows if i1 is None else i1
        t, acc, gyr = self.rows(i0, i1)
        lo, hi = (float(t[0]), float(t[-1])) if t.size else (np.inf, -np.inf)
        gaps = [g for g in self.gaps if g.end_s > lo and g.start_s <= hi]
        return SensorData(
            id=self.id,
            placement=self.placement,
            config=self.config,
            t_s=np.asarray(t),
            acc_mps2=acc,
            gyr_radps=gyr,
            gaps=gaps,
            clock=self.clock,
            duplicates=0,
            clock_resets=0,
            kind=self.kind,
            device=dict(self.device),
        )

    def chunks(self, rows: int) -> Iterator[tuple[int, int]]:
        """``[i0, i1)`` row ranges of ``rows`` rows covering the grid."""
        for i0 in range(0, self.n_rows, max(int(rows), 1)):
            yield i0, min(i0 + int(rows), self.n_rows)


class UniformTimes:
    """The times of a uniform grid, computed on demand (``len``, ``[i]``, ``[a:b]``)."""

    def __init__(self, grid: _Grid | None, n: int, values: np.ndarray | None = None) -> None:
        self._grid = grid
        self._n = int(n)
        self._values = values  # small grids (other kinds of sensors): the array itself

    def __len__(self) -> int:
        return self._n

    def _slot_time(self, k: Any) -> Any:
        """Times of grid rows ``k`` (a grid is there whenever ``values`` is not)."""
        if self._grid is None:
            raise ValueError("times without a grid or values")
        return self._grid.slot_time(k)

    @property
    def size(self) -> int:
        return self._n

    def __getitem__(self, key: int | slice) -> Any:
        if self._values is not None:
            return self._values[key]
        if isinstance(key, slice):
            return self._slot_time(np.arange(*key.indices(self._n)))
        i = int(key)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"row {key} outside a grid of {self._n} rows")
        return float(self._slot_time(i))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            f"the {self._n} times of a long recording are not made into one array; use "
            "slices or searchsorted"
        )

    def searchsorted(self, t: float, side: Literal["left", "right"] = "left") -> int:
        """``numpy.searchsorted`` of the whole (ascending) time array, without building it."""
        n = self._n
        if n == 0:
            return 0
        if self._values is not None:
            return int(np.searchsorted(self._values, t, side=side))
        if not np.isfinite(t):
            return 0 if t < 0 else n  # NaN sorts last, as in numpy
        t0, t1 = self[0], self[n - 1]
        i = int(np.clip(np.floor((t - t0) / ((t1 - t0) / max(n - 1, 1))), 0, n)) if n > 1 else 0
        lo, hi = max(i - 2, 0), min(i + 3, n)
        # the insertion point lies in [lo, hi] when every time before lo lies before ``t``
        # and none from hi on does
        while lo > 0 and not _before(self[lo - 1], t, side):
            lo = max(lo - 64, 0)
        while hi < n and _before(self[hi], t, side):
            hi = min(hi + 64, n)
        seg = self._slot_time(np.arange(lo, hi))
        return lo + int(np.searchsorted(seg, t, side=side))


def _before(x: float, t: float, side: str) -> bool:
    """Whether a grid time ``x`` lies before the insertion point of ``t``."""
    return x < t if side == "left" else x <= t


class _RowReader:
    """Reads grid rows of one Poise wearable from the file, packet by packet."""

    def __init__(
        self,
        path: Path,
        sensor_id: str,
        config: Any,
        pl: _Placement,
        kmin: int,
        data_offset: np.ndarray,
        data_len: np.ndarray,
        k_lo: np.ndarray,
        k_hi: np.ndarray,
    ) -> None:
        self.path = path
        self.sensor_id = sensor_id
        self.config = config
        self.pl = pl
        self.kmin = kmin
        self.data_offset = data_offset
        self.data_len = data_len
        self.k_lo = k_lo  # grid rows of each packet's samples: k_lo..k_hi
        self.k_hi = k_hi

    def read(self, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[i0, i1)``: NaN where no sample, else the first copy in arrival order."""
        n = i1 - i0
        acc = np.full((n, 3), np.nan)
        gyr = np.full((n, 3), np.nan)
        sel = np.flatnonzero((self.k_lo < i1) & (self.k_hi >= i0))
        if sel.size == 0:
            return acc, gyr
        idx = self.pl.sample_k(sel) - self.kmin - i0
        inside = (idx >= 0) & (idx < n)
        rows = np.flatnonzero(inside)
        uniq, first = np.unique(idx[rows], return_index=True)
        acc_all, gyr_all = self._samples(sel)
        acc[uniq] = acc_all[rows[first]]
        gyr[uniq] = gyr_all[rows[first]]
        return acc, gyr

    def _samples(self, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Samples of the packets ``sel`` in order, as the codec's ``decode_many`` converts
        them (one vectorised view when they share the full layout and length, else the
        codec itself)."""
        off = self.data_offset[sel]
        ln = self.data_len[sel]
        lo, hi = int(off.min()), int((off + ln).max())
        length = int(ln[0])
        count = (length - codec.FULL_OVERHEAD) // codec.SAMPLE_SIZE
        if (
            hi - lo <= 4 * int(ln.sum()) + (1 << 20)
            and (ln == length).all()
            and count >= 1
            and length == codec.FULL_OVERHEAD + count * codec.SAMPLE_SIZE
        ):
            with open(self.path, "rb") as fh:
                buf = np.frombuffer(os.pread(fh.fileno(), hi - lo, lo), dtype=np.uint8)
            rel = off - lo
            if buf.size == hi - lo and (buf[rel] == _FULL_BYTE0).all():
                mat = buf[rel[:, None] + np.arange(length)]
                raw = mat.view(codec._full_dtype(count)).reshape(-1)["s"].reshape(-1, 6)
                cfg = self.config
                return raw[:, :3] * cfg.acc_scale_mps2, raw[:, 3:] * cfg.gyro_scale_radps
        block, kept, counts, bad = _decode(self._packets(sel), self.config, self.sensor_id)
        if bad:  # the index accepted these packets: the file changed under us
            raise RecordingError(
                f"{self.path}: sensor {self.sensor_id}: the file changed while it was read "
                f"({bad[0][1]})"
            )
        return block.acc_mps2, block.gyr_radps

    def _packets(self, sel: np.ndarray) -> list[bytes]:
        off = self.data_offset[sel]
        ln = self.data_len[sel]
        lo, hi = int(off.min()), int((off + ln).max())
        out: list[bytes] = []
        with open(self.path, "rb") as fh:
            if hi - lo <= 4 * int(ln.sum()) + (1 << 20):  # mostly contiguous: one read
                buf = os.pread(fh.fileno(), hi - lo, lo)
                rel = off - lo
                out = [buf[a : a + b] for a, b in zip(rel.tolist(), ln.tolist())]
            else:  # scattered (a damaged clock put far-away packets here): one read each
                out = [os.pread(fh.fileno(), b, a) for a, b in zip(off.tolist(), ln.tolist())]
        if any(len(p) != b for p, b in zip(out, ln.tolist())):
            raise RecordingError(f"{self.path}: the file is shorter than when it was indexed")
        return out


class LongRecording(Recording):
    """A recording opened by :func:`open_recording`: a
    :class:`sensors.recording.Recording` whose sensors are :class:`LongSensor` (rows read
    on demand)."""


def _map(path: Path) -> tuple[Any, Any]:
    """(data, closer): a read-only mapping of the file, or its bytes when it is tiny."""
    fh = open(path, "rb")
    size = os.fstat(fh.fileno()).st_size
    if size < (1 << 20):
        data = fh.read()
        fh.close()
        return data, None
    mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    fh.close()
    return mm, mm


def open_recording(path: str | os.PathLike) -> LongRecording:
    """Open a recording for reading in pieces (see the module docstring).

    Raises
    ------
    RecordingError
        Not a recording, or no valid header record anywhere (as ``load_recording``).
    """
    path = Path(path)
    data, mm = _map(path)
    try:
        return _index(path, data, mm)
    finally:
        if mm is not None:
            mm.close()


def _index(path: Path, data: Any, mm: mmap.mmap | None) -> LongRecording:
    reader = RecordingReader(data, name=str(path))
    # packets per sensor index: Poise wearables are indexed as they come (once the header
    # says which sensors are); the rest keep their records' places to be built whole
    poise: dict[int, _PoiseIndex] = {}
    other: dict[int, list[tuple[int, int, int, float, int]]] = {}  # rec off, data off, len...
    early: list[Any] = []  # packets before the first valid header (damaged files only)
    header: list[tuple[dict, Any, Any]] = []
    state = {"header": False, "released": 0}

    def take(rec: Any) -> None:
        s = rec.sensor
        head = _NOTIFY_DATA if rec.type == RecordType.NOTIFY else _PACKET_DATA
        data_off = rec.offset + REC_HEAD_SIZE + head
        if s in poise:
            poise[s].add(rec.offset, data_off, rec.host_time_s, rec.packet)
        else:
            other.setdefault(s, []).append(
                (rec.offset, data_off, len(rec.packet), rec.host_time_s, rec.channel or 0)
            )

    def on_header(metadata: dict) -> None:
        state["header"] = True
        header.extend(_header_sensors(str(path), metadata))
        for i, (smd, drv, cfg) in enumerate(header):
            if drv.kind == "poise":
                poise[i] = _PoiseIndex(str(smd.get("id", f"sensor-{i}")), cfg)
        for r in early:
            take(r)
        early.clear()

    def on_packet(rec: Any) -> None:
        released = state["released"]
        if mm is not None and rec.offset - released > RELEASE_BYTES:
            upto = (rec.offset // mmap.PAGESIZE) * mmap.PAGESIZE
            if hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
                mm.madvise(mmap.MADV_DONTNEED, released, upto - released)
            state["released"] = upto
        if state["header"]:
            take(rec)
        else:
            early.append(rec)

    walk = _walk_records(reader, on_packet, on_header)
    damage, events = walk.damage, walk.events
    sensors: list[LongSensor] = []
    for i, (smd, drv, cfg) in enumerate(header):
        sid = str(smd.get("id", f"sensor-{i}"))
        if i in poise:
            ls, bad = _poise_sensor(path, poise.pop(i), smd, walk.gaps.get(i, []))
        else:
            recs = other.pop(i, [])
            ls, bad = _other_sensor(path, drv, cfg, sid, smd, recs, walk.gaps.get(i, []))
        damage.extend(bad)
        ls.kind = drv.kind
        ls.device = _device_description(drv, smd, i, events)
        sensors.append(ls)
    for s, recs in sorted(other.items()):
        damage.append(_stray_damage(recs[0][0], len(recs), s))
    return _assemble(LongRecording, walk, reader.name, sensors, damage)


def _poise_sensor(
    path: Path, ix: _PoiseIndex, smd: dict, gap_records: list[dict]
) -> tuple[LongSensor, list[Damage]]:
    """The grid of one Poise wearable from its index: :func:`build_sensor_data`'s steps on
    packets instead of samples."""
    ix.flush()
    cfg, sid = ix.config, ix.sensor_id
    rec_offset = _as_int64(ix.rec_offset)
    kept = _as_int64(ix.kept)
    counts = _as_int64(ix.counts)
    bad = list(ix.bad)
    placement = smd.get("placement")
    if kept.size == 0:
        empty = np.empty((0, 3))
        sd = SensorData(
            sid,
            placement,
            cfg,
            np.empty(0),
            empty,
            empty.copy(),
            _gaps_without_samples(gap_records),
        )
        dmg = [Damage(int(rec_offset[k]), reason) for k, reason in bad]
        return LongSensor(sd, 0, UniformTimes(None, 0, np.empty(0)), None, 0), dmg
    mixed = ix.has_full and ix.has_compact
    first_raw = _as_int64(ix.first_raw)
    bits = 32 if ix.has_full and not ix.has_compact else _COMPACT_BITS
    if mixed:  # as _decode_mixed: full packets' timestamps cut to the compact width
        first_raw = first_raw & ((1 << _COMPACT_BITS) - 1)
    host_all = np.frombuffer(ix.host, dtype=np.float64)[kept]
    limit = max_grid_rows(int(counts.sum()), cfg.sampling_rate_hz)
    sel, pl, left_out = _fit_grid(
        first_raw, host_all, counts, kept, bits, cfg.sample_period_us, limit, 5.0, 5.0, sid
    )
    bad.extend(left_out)
    bad.sort(key=lambda b: b[0])
    dmg = [Damage(int(rec_offset[k]), reason) for k, reason in bad]
    kmin, kmax = pl.k_range()
    n = kmax - kmin + 1
    present = np.zeros(n, dtype=bool)
    k_lo = np.empty(sel.size, dtype=np.int64)
    k_hi = np.empty(sel.size, dtype=np.int64)
    placed = 0
    for a in range(0, sel.size, BATCH_PACKETS):
        b = min(a + BATCH_PACKETS, sel.size)
        k = pl.sample_k(np.arange(a, b)) - kmin
        c = pl.counts[a:b]
        starts = np.cumsum(c) - c
        k_lo[a:b] = np.minimum.reduceat(k, starts)
        k_hi[a:b] = np.maximum.reduceat(k, starts)
        present[k] = True
        placed += k.size
    grid = _Grid(pl, kmin, n)
    gaps = grid.gaps(_holes(present), list(gap_records), bits)
    n_present = int(np.count_nonzero(present))
    del present
    sd = SensorData(
        id=sid,
        placement=placement,
        config=cfg,
        t_s=np.empty(0),
        acc_mps2=np.empty((0, 3)),
        gyr_radps=np.empty((0, 3)),
        gaps=gaps,
        clock=pl.fit,
        duplicates=placed - n_present,
        clock_resets=pl.n_seg - 1,
    )
    data_offset = np.frombuffer(ix.data_offset, dtype=np.int64)[kept[sel]]
    data_len = np.frombuffer(ix.data_len, dtype=np.int32)[kept[sel]].astype(np.int64)
    reader = _RowReader(path, sid, cfg, pl, kmin, data_offset, data_len, k_lo, k_hi)
    return LongSensor(sd, n, UniformTimes(grid, n), reader, n_present), dmg


def _holes(present: np.ndarray, block: int = 1 << 22) -> list[tuple[int, int]]:
    """``[start, end)`` runs of False in ``present`` (``sensors.timeline._runs(~present)``),
    a block at a time: a week's grid is 60 million rows."""
    starts: list[int] = []
    ends: list[int] = []
    n = present.size
    prev = True  # the row before the grid counts as present
    for a in range(0, n, block):
        p = present[a : min(a + block, n)].view(np.int8)
        d = np.diff(p, prepend=np.int8(prev))
        starts.extend((np.flatnonzero(d == -1) + a).tolist())
        ends.extend((np.flatnonzero(d == 1) + a).tolist())
        prev = bool(p[-1])
    if len(ends) < len(starts):  # a hole up to the end (never: the last row holds a sample)
        ends.append(n)
    return list(zip(starts, ends))


def _other_sensor(
    path: Path,
    drv: Any,
    cfg: Any,
    sid: str,
    smd: dict,
    recs: list[tuple[int, int, int, float, int]],
    gap_records: list[dict],
) -> tuple[LongSensor, list[Damage]]:
    """A sensor of another kind: its records read back and built whole (in memory)."""
    records: list[tuple[int, bytes]] = []
    with open(path, "rb") as fh:
        for _off, data_off, ln, _host, channel in recs:
            records.append((channel, os.pread(fh.fileno(), ln, data_off)))
    sd, bad = drv.build_sensor_data(
        sensor_id=sid,
        placement=smd.get("placement"),
        config=cfg,
        records=records,
        host_times_s=[r[3] for r in recs],
        gap_records=gap_records,
    )
    dmg = [Damage(recs[k][0], reason) for k, reason in bad]
    n = len(sd.t_s)
    return LongSensor(sd, n, UniformTimes(None, n, sd.t_s), None, sd.n_samples), dmg
