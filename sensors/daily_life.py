"""Synthetic days of daily life with one lower-back sensor, and fast recordings of them.

A patient wearing a sensor at home for a week makes 60 million samples per sensor at
100 Hz. Building such a week from the movement models of :mod:`sensors.scenarios` sample
by sample would take long and need gigabytes; :class:`DailyLife` builds a small
**library** of noise-free pieces once (about 25 minutes of signal, a few seconds of work)
and **tiles** every day from it, adding fresh sensor noise to each tile:

* **sitting**: 5-minute pieces, breathing (0.25 Hz, 0.4 deg), with one or two posture
  shifts (the trunk leans 5-8 deg forward and to a side and back): people sitting at home
  move now and then, and a sensor nobody wears does not (an hour of sitting with nothing
  but breathing would look like a sensor on a table to the non-wear rule, as it would to
  any rule working on acceleration alone);
* **outings**: sit, stand up, stand 2-4 s, walk (a chosen duration, 0.6-1.2 m/s, long
  walks with a 180 deg turn), stand, sit down (the models of :mod:`sensors.scenarios`);
  durations chosen so that every Mobilise-D bout class occurs (under 10 s, 10-30 s,
  30-60 s, over 60 s); also outings that only stand (a minute at a counter);
* **not worn**: the sensor taken off and laid on a table (a 5-s handling movement to a
  resting orientation, then only sensor noise), put on again in the morning.

Each day is a random arrangement (own seed) of these pieces between the wear times, so
days differ in walking time, steps and bouts; the truth (wear interval, every walk with
its first and last initial contact, steps, speed, cadence, stride length) comes with it.
:func:`write_recording` encodes days straight into a ``.poise`` file (packets of 19
samples built with numpy, a CRC-16 and a record per packet), about 3 s per day.

The truth is for tests and benchmarks only; the analysis never sees it.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware_protocol.codec import config_id, to_counts
from firmware_protocol.types import SensorConfig
from sensors.recording import RecordingWriter, local_time_zone
from sensors.scenarios import MotionData, ScenarioOptions, Subject, _minjerk, _setup, _Take

__all__ = ["DailyLife", "Piece", "write_recording"]

DAY_S = 86400.0
SIT_PIECE_S = 300.0
#: Walking durations (s) of the outings in the library: every Mobilise-D bout class.
WALK_DURATIONS_S = (5.0, 7.0, 13.0, 18.0, 26.0, 34.0, 45.0, 56.0, 75.0, 110.0, 180.0, 300.0)
HANDLING_S = 5.0


@dataclass
class Piece:
    """A noise-free stretch of signal (sensor frame, SI units) and its truth (times in s
    from the piece's start)."""

    kind: str  # "sit", "outing", "stand", "off"
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray
    truth: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.acc_mps2.shape[0])


class DailyLife:
    """Days of daily life tiled from a library of pieces (see the module docstring).

    Parameters
    ----------
    sampling_rate_hz
        Output rate.
    seed
        Seeds the library and, with the day's number, every day.
    subject, mount
        As in :mod:`sensors.scenarios` (default: 1.70 m, the lower-back clip).
    """

    def __init__(
        self,
        sampling_rate_hz: float = 100.0,
        seed: int = 0,
        *,
        subject: Subject | None = None,
        mount: str | np.ndarray | None = "lowerback",
    ) -> None:
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.seed = int(seed)
        self.subject = subject or Subject(height_m=1.68, age_y=74.0)
        self.mount = mount
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1]))
        self.sits = [self._sit(int(rng.integers(1 << 30)), shift) for shift in (1, 1, 2)]
        self.outings = [
            self._outing(
                int(rng.integers(1 << 30)),
                walk_s=d,
                cadence_spm=float(rng.uniform(92.0, 112.0)),
                step_length_m=float(rng.uniform(0.42, 0.66)),
            )
            for d in WALK_DURATIONS_S
        ]
        self.stands = [self._outing(int(rng.integers(1 << 30)), walk_s=0.0, stand_s=60.0)]
        self.take_off, self.off_row = self._handling(int(rng.integers(1 << 30)), off=True)
        self.put_on, _ = self._handling(int(rng.integers(1 << 30)), off=False)

    # ------------------------------------------------------------------ library
    def _take(self, name: str, seed: int) -> _Take:
        """A piece built like a scenario: this day's rate, subject and mount, noise added
        once over the whole day."""
        options: ScenarioOptions = {
            "sampling_rate_hz": self.sampling_rate_hz,
            "seed": seed,
            "subject": self.subject,
            "mount": self.mount,
            "noise": False,
        }
        return _setup(name, options)

    def _sit(self, seed: int, shifts: int) -> Piece:
        """Five minutes of sitting with ``shifts`` posture shifts: the trunk leans forward
        and to one side (5-8 deg each, reaching for something, shifting the weight) and
        comes back."""
        take = self._take("sit", seed)
        b, rng = take.b, take.rng
        b.posture = "sit"
        parts = shifts + 1
        for j in range(parts):
            b.hold((SIT_PIECE_S - 4.0 * shifts) / parts)
            if j < shifts:
                n = b._ns(4.0)
                bump = np.sin(np.pi * np.arange(n) / n) ** 2
                lean = math.radians(float(rng.uniform(5.0, 8.0))) * bump
                side = math.radians(float(rng.uniform(5.0, 8.0) * rng.choice([-1, 1]))) * bump
                pos = np.tile([b.x, b.y, b._base_z()], (n, 1))
                ang = np.stack([np.full(n, b.heading), b.sit_pitch + lean, side], 1)
                b._append(pos, ang)
        md = take.finish({})
        return Piece("sit", md.acc_mps2, md.gyr_radps)

    def _outing(
        self,
        seed: int,
        *,
        walk_s: float,
        cadence_spm: float = 100.0,
        step_length_m: float = 0.55,
        stand_s: float = 0.0,
    ) -> Piece:
        """Sit, stand up, (walk ``walk_s``), stand, sit down, sit."""
        take = self._take("outing", seed)
        b, rng = take.b, take.rng
        b.posture = "sit"
        b.hold(3.0)
        b.sit_to_stand(2.0, float(rng.uniform(30.0, 40.0)))
        b.hold(float(rng.uniform(2.0, 4.0)) + stand_s)
        walk = None
        if walk_s > 0:
            turns = None
            if walk_s >= 60.0:  # a long walk turns round half-way (a corridor, a street)
                half = 0.5 * walk_s * cadence_spm / 60.0 * step_length_m
                turns = [(half, 180.0, 2.5)]
            walk = b.walk(
                duration_s=walk_s,
                cadence_spm=cadence_spm,
                step_length_m=step_length_m,
                turns=turns,
            )
            b.hold(float(rng.uniform(2.0, 4.0)))
        b.stand_to_sit(2.2, float(rng.uniform(25.0, 35.0)))
        b.hold(3.0)
        md = take.finish({})
        truth: dict[str, Any] = {}
        if walk is not None:
            ic = np.asarray(walk["initial_contacts_s"])
            dur = float(ic[-1] - ic[0])
            truth["walk"] = {
                "start_s": float(ic[0]),
                "end_s": float(ic[-1]),
                "duration_s": dur,
                "n_steps": int(ic.size - 1),
                "distance_m": float(walk["distance_m"]),
                "speed_mps": float(walk["distance_m"]) / (walk["end_s"] - walk["start_s"]),
                "cadence_spm": 60.0 * (ic.size - 1) / dur,
                "stride_length_m": 2.0 * float(np.median(walk["step_lengths_m"])),
            }
        return Piece("outing" if walk is not None else "stand", md.acc_mps2, md.gyr_radps, truth)

    def _handling(self, seed: int, *, off: bool) -> tuple[Piece, np.ndarray]:
        """Taking the sensor off (sitting -> laid on a table) or putting it on (reverse).

        Returns the piece and the resting row (acc, gyr) of the sensor on the table."""
        take = self._take("handling", seed)
        b = take.b
        b.posture = "sit"
        n = b._ns(HANDLING_S)
        u = _minjerk(np.arange(n) / n)
        if not off:
            u = 1.0 - u
        rest = np.array([1.3, math.radians(-80.0), math.radians(25.0)])  # yaw, pitch, roll
        sit = np.array([b.heading, b.sit_pitch, 0.0])
        ang = sit[None, :] + (rest - sit)[None, :] * u[:, None]
        lift = 0.25 * np.sin(np.pi * u)  # carried up and put down
        pos = np.stack([b.x + 0.3 * u, np.full(n, b.y), b._base_z() + lift], 1)
        b._append(pos, ang)
        md = take.finish({})
        row = np.concatenate([md.acc_mps2[-1 if off else 0], np.zeros(3)])
        return Piece("handling", md.acc_mps2, md.gyr_radps), row

    # ------------------------------------------------------------------ days
    def plan(
        self,
        day: int,
        *,
        day_s: float = DAY_S,
        wear_start_s: float = 7.5 * 3600,
        wear_end_s: float = 22.0 * 3600,
        outings_per_hour: float = 2.5,
    ) -> tuple[list[tuple[str, int, int, int]], dict[str, Any]]:
        """The pieces of a day: ``(kind, library index, first row, rows)`` and the truth.

        ``kind`` is ``off`` (library index unused), ``take_off``, ``put_on``, ``sit``,
        ``outing``, ``stand``; rows are at :attr:`sampling_rate_hz` from the day's start.
        """
        fs = self.sampling_rate_hz
        n_day = int(round(day_s * fs))
        w0 = int(round(min(max(wear_start_s, 0.0), day_s) * fs))
        w1 = int(round(min(max(wear_end_s, wear_start_s), day_s) * fs))
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 2, int(day)]))
        out: list[tuple[str, int, int, int]] = []
        walks: list[dict[str, Any]] = []
        pos = 0
        if w0 > 0:
            out.append(("off", 0, 0, w0))
            pos = w0
        worn = w1 - w0 >= self.put_on.n + self.take_off.n
        if worn:
            out.append(("put_on", 0, pos, self.put_on.n))
            pos += self.put_on.n
            end = w1 - self.take_off.n
            p_out = outings_per_hour * SIT_PIECE_S / 3600.0  # outings per sitting piece
            while pos < end:
                r = rng.random()
                if r < p_out:
                    j = int(rng.integers(len(self.outings)))
                    p, kind = self.outings[j], "outing"
                elif r < p_out * 1.15:
                    j, p, kind = 0, self.stands[0], "stand"
                else:
                    j = int(rng.integers(len(self.sits)))
                    p, kind = self.sits[j], "sit"
                if pos + p.n > end:  # no room for it: sit until the sensor comes off
                    j = int(rng.integers(len(self.sits)))
                    kind, p = "sit", self.sits[j]
                rows = min(p.n, end - pos)
                out.append((kind, j, pos, rows))
                if kind == "outing" and rows == p.n:
                    w = p.truth["walk"]
                    walks.append(
                        {**w, "start_s": pos / fs + w["start_s"], "end_s": pos / fs + w["end_s"]}
                    )
                pos += rows
            out.append(("take_off", 0, pos, self.take_off.n))
            pos += self.take_off.n
        if pos < n_day:
            out.append(("off", 0, pos, n_day - pos))
        truth = {
            "day": int(day),
            "duration_s": n_day / fs,
            "wear": [[w0 / fs, w1 / fs]] if worn else [],
            "wear_s": (w1 - w0) / fs if worn else 0.0,
            "walks": walks,
        }
        return out, truth

    def _piece(self, kind: str, j: int) -> Piece | None:
        return {
            "sit": lambda: self.sits[j],
            "outing": lambda: self.outings[j],
            "stand": lambda: self.stands[j],
            "take_off": lambda: self.take_off,
            "put_on": lambda: self.put_on,
        }.get(kind, lambda: None)()

    def blocks(
        self, day: int, *, block_rows: int = 360_000, **plan_kw: Any
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The day's (acc, gyr) with sensor noise, ``block_rows`` rows at a time."""
        pieces, _truth = self.plan(day, **plan_kw)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 3, int(day)]))
        bias = np.concatenate([rng.uniform(-0.05, 0.05, 3), rng.uniform(-0.005, 0.005, 3)])
        noise = np.array([0.015] * 3 + [0.004] * 3)
        buf: list[np.ndarray] = []
        have = 0
        for kind, j, _start, rows in pieces:
            p = self._piece(kind, j)
            done = 0
            while done < rows:
                take = min(rows - done, block_rows - have)
                if p is None:
                    x = np.broadcast_to(self.off_row, (take, 6)).copy()
                else:
                    x = np.concatenate(
                        [p.acc_mps2[done : done + take], p.gyr_radps[done : done + take]], 1
                    )
                buf.append(x)
                have += take
                done += take
                if have == block_rows:
                    yield _noisy(np.concatenate(buf), rng, noise, bias)
                    buf, have = [], 0
        if buf:
            yield _noisy(np.concatenate(buf), rng, noise, bias)

    def day(self, day: int, **plan_kw: Any) -> MotionData:
        """A whole day as :class:`MotionData` (for tests; a full day is 400 MB)."""
        parts = list(self.blocks(day, **plan_kw))
        acc = np.concatenate([a for a, _ in parts])
        gyr = np.concatenate([g for _, g in parts])
        return MotionData(acc, gyr, self.sampling_rate_hz, self.plan(day, **plan_kw)[1])


def _noisy(
    x: np.ndarray, rng: np.random.Generator, noise: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x = x + bias + noise * rng.standard_normal(x.shape)
    return x[:, :3], x[:, 3:]


# --------------------------------------------------------------------------- recordings


_PER_PACKET = 19


def _packet_dtype(count: int) -> np.dtype:
    """A full data packet (firmware_protocol/SPEC.md 3.2) without its CRC."""
    return np.dtype(
        [("b0", "u1"), ("cid", "u1"), ("seq", "<u2"), ("t", "<u4"), ("n", "u1"),
         ("s", "<i2", (count * 6,))]
    )  # fmt: skip


class _SampleWriter:
    """Writes one sensor's samples as full data packets of 19 samples, vectorised."""

    def __init__(
        self,
        writer: RecordingWriter,
        index: int,
        config: SensorConfig,
        latency_s: float,
        drift_ppm: float,
        seed: int,
    ) -> None:
        self.w = writer
        self.index = index
        self.config = config
        self.latency_s = latency_s
        self.scale = 1.0 + drift_ppm * 1e-6
        self.rng = np.random.default_rng(seed)
        self.n_written = 0  # samples
        self.n_packets = 0
        self._rest = np.empty((0, 6), dtype=np.int16)

    def write(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray, *, last: bool = False) -> None:
        acc, gyr = to_counts(acc_mps2, gyr_radps, self.config)
        counts = np.concatenate([self._rest, np.concatenate([acc, gyr], 1).astype(np.int16)])
        full = counts.shape[0] // _PER_PACKET * _PER_PACKET
        self._emit(counts[:full], _PER_PACKET)
        self._rest = counts[full:]
        if last and self._rest.shape[0]:
            self._emit(self._rest, self._rest.shape[0])
            self._rest = self._rest[:0]

    def _emit(self, counts: np.ndarray, per: int) -> None:
        n_pk = counts.shape[0] // per
        if n_pk == 0:
            return
        period = self.config.sample_period_us
        first = self.n_written + np.arange(n_pk, dtype=np.int64) * per
        rec = np.zeros(n_pk, dtype=_packet_dtype(per))
        rec["b0"] = 0x11
        rec["cid"] = config_id(self.config)
        rec["seq"] = (self.n_packets + np.arange(n_pk)) % 65536
        rec["t"] = (first * period) % (1 << 32)
        rec["n"] = per
        rec["s"] = counts.reshape(n_pk, per * 6)
        # host receive time: the last sample's time on the host clock (drift) + latency
        last_s = (first + per - 1) * period * 1e-6
        host = last_s * self.scale + self.latency_s + self.rng.uniform(0.0, 0.004, n_pk)
        raw = rec.tobytes()
        size = rec.dtype.itemsize
        w, index = self.w, self.index
        for i, t in enumerate(host.tolist()):
            body = raw[i * size : (i + 1) * size]
            crc = binascii.crc_hqx(body, 0xFFFF)
            w.write_packet(index, body + crc.to_bytes(2, "little"), host_time_s=t)
        self.n_written += n_pk * per
        self.n_packets += n_pk


def write_recording(
    path: str | Path,
    blocks: Iterator[tuple[np.ndarray, np.ndarray]],
    *,
    config: SensorConfig | None = None,
    metadata: dict[str, Any] | None = None,
    start_epoch_s: float | None = None,
    drift_ppm: float = 20.0,
    latency_s: float = 0.008,
    seed: int = 0,
    overwrite: bool = False,
    timezone: str | None = None,
    events: list[dict[str, Any]] | None = None,
) -> int:
    """Write one lower-back Poise wearable's samples (``(acc, gyr)`` blocks, SI units) as a
    ``.poise`` recording, as the sensor would have streamed them: packets of 19 samples,
    the sensor clock in microseconds (wrapping at 2^32), host receive times from the sensor
    clock with ``drift_ppm`` drift, ``latency_s`` and up to 4 ms jitter. Returns the
    number of samples written. With ``start_epoch_s`` the header's start is that instant,
    in the IANA zone ``timezone`` (default: this computer's zone, as a recorder writes it).
    ``events`` (dicts with ``kind`` and ``t_s``) are written after the samples.
    """
    import datetime as _dt

    cfg = config or SensorConfig(100, 8, 2000)
    md = dict(metadata or {})
    md.setdefault("sensors", [{"id": "lower-back", "placement": "lower-back", "config": cfg}])
    if start_epoch_s is not None:
        t = _dt.datetime.fromtimestamp(float(start_epoch_s), _dt.UTC)
        md["start"] = {
            "utc": t.isoformat(timespec="microseconds"),
            "epoch_s": float(start_epoch_s),
            "monotonic_s": 0.0,
            **local_time_zone(float(start_epoch_s)),
        }
        if timezone is not None:
            from zoneinfo import ZoneInfo

            offset = t.astimezone(ZoneInfo(timezone)).utcoffset()
            md["start"].update(
                timezone=timezone, utc_offset_s=offset.total_seconds() if offset else 0.0
            )
    with RecordingWriter(path, md, overwrite=overwrite, flush_interval_s=5.0) as w:
        sw = _SampleWriter(w, 0, cfg, latency_s, drift_ppm, seed)
        pending = None
        for acc, gyr in blocks:
            if pending is not None:
                sw.write(*pending)
            pending = (acc, gyr)
        if pending is not None:
            sw.write(*pending, last=True)
        end_s = (sw.n_written * cfg.sample_period_us * 1e-6) * sw.scale + latency_s + 0.01
        for event in events or []:
            w.write_event(event)
        w.close(t_s=end_s)
    return sw.n_written
