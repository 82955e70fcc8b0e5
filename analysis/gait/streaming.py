"""Live gait analysis: the offline chain run on a trailing window, decided once its context is in.

:class:`StreamingGait` keeps the last ``window_s`` seconds in preallocated ring buffers
(bounded memory) and, every ``hop_s`` seconds of data, runs the *same* code as
:class:`analysis.gait.GaitAnalyzer` (:func:`analysis.gait.pipeline.track_contacts`:
orientation, gait sequences, step periods, initial contacts, sides, step lengths) on that
window. What it reports is decided in two stages:

* **Final contacts.** A contact is final once it is ``final_after_s`` (12 s) old. By then the
  window holds the evidence the offline detectors use for it: the gait-sequence detector
  needs several steps after a contact to recognise a pulse train (about 7 s at a slow
  walker's 1.2-s steps), the periodicity windows are 8 s long and the contact detector
  compares a lobe with those within 10 s of it. Final contacts go, with their side,
  Zijlstra step length, lost-sample flag and posture, into the open group of contacts (no
  break longer than ``max_break_s``). A group closes when the final horizon is
  ``max_break_s`` past its last contact, and its bouts come from the shared
  :func:`analysis.gait.pipeline.assemble_bouts` - the offline code on the same contacts. So
  the stream and the offline analysis give the same bouts by construction, up to what the
  window's filters see differently from the whole recording's (a lobe at the edge of a
  detection threshold can fall either way; the window starts on the offline analysis's
  decimation and periodicity grids to keep that small) and evidence that arrives more than
  ``final_after_s`` late (such a contact is not counted). Tested: the same bouts on the
  mobgap-lab trials, all 47 ipol-l5 walks (``bench/validate_gait.py``) and the synthetic
  slow-gait scenarios.
* **Steps as they happen.** Every analysis also passes the open group's final contacts and
  the window's newer ones through the bout rules. While they make a bout that reaches the
  newest contacts, its contacts are emitted in ``new_steps_`` once ``settle_s`` old and
  followed by the next contact (the bout rules drop a bout's closing contact, the stopping
  step, so it is never counted and withdrawn; the first steps come together when the bout
  gets its fourth valid stride, after that a step is emitted a median 1 s after it) and the
  bout in progress is reported in ``current_bout_``. When a
  contact becomes final it confirms the step emitted for it (within
  ``provisional_tolerance_s``); an emitted step that no final contact confirms, or that
  ends up outside every bout of its group, is listed in ``retracted_steps_`` (rare: a lobe
  at the newest data that more data dissolves, a run the whole group's posture rule
  rejects); a final contact of a bout that was
  never emitted is emitted then. So the running step count (``len(new_steps_) -
  len(retracted_steps_)`` summed over calls) ends equal to the offline number of contacts in
  bouts.

Per-block cost: copying the block into the ring buffers; the analysis runs once per
``hop_s`` on ``window_s`` of data (vectorised numpy/scipy, no per-sample Python loops).

Signal-based per-bout values (regularity, symmetry, harmonic ratio) need the bout's whole
signal and are NaN in streamed bouts; turns are not streamed (use the offline analysis).
NaN rows (lost samples) are allowed anywhere, as offline.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from analysis.gait.bouts import WalkingBoutAssembler
from analysis.gait.pipeline import (
    ContactTrack,
    Stride,
    WalkingBout,
    assemble_bouts,
    decimation_factor,
    resolve_sensor_height,
    round_or_none,
    track_contacts,
)
from analysis.orientation import BodyFrameAligner
from analysis.ringbuffer import RingBuffer

__all__ = ["StreamingGait", "StreamStep"]

#: ``current_bout_`` is assembled from at most this many of the newest contacts.
CURRENT_BOUT_STEPS = 300


class StreamStep(tuple):
    """(time_s, foot, step_time_s, step_length_m) of one emitted initial contact."""

    __slots__ = ()

    def __new__(cls, time_s: float, foot: str, step_time_s: float, step_length_m: float):
        return super().__new__(cls, (time_s, foot, step_time_s, step_length_m))

    @property
    def time_s(self) -> float:
        return self[0]

    @property
    def foot(self) -> str:
        return self[1]

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "time_s": round_or_none(self[0]),
            "foot": self[1],
            "step_time_s": round_or_none(self[2]),
            "step_length_m": round_or_none(self[3]),
        }


@dataclass(eq=False)
class StreamingGait:
    """Incremental gait analysis of one lower-back IMU (see module docstring).

    Parameters
    ----------
    sampling_rate_hz : float
    sensor_height_m, height_m : float or None
        As for :class:`analysis.gait.GaitAnalyzer`.
    window_s : float
        Length of the analysed ring buffer (at least ``final_after_s`` + 8 s).
    hop_s : float
        Data between two analyses.
    final_after_s : float
        Age at which a contact is final.
    settle_s : float
        Age a contact needs before it is emitted as a step.
    provisional_tolerance_s : float
        A final contact this close to an emitted step confirms it.
    max_bout_steps : int
        A group longer than this is closed and a new one started (bounds memory).
    max_history : int
        Finished bouts kept in ``bouts_`` (older ones are dropped).

    Attributes (updated by :meth:`update`)
    ----------------------------------------
    new_steps_ : list of :class:`StreamStep`
        Steps emitted by the last call.
    retracted_steps_ : list of :class:`StreamStep`
        Earlier steps withdrawn by the last call (no final contact, or outside every bout).
    new_strides_ : list of :class:`analysis.gait.Stride`
        Strides completed by the steps of the last call (validity: duration rule only).
    new_bouts_ : list of :class:`analysis.gait.WalkingBout`
        Bouts closed by the last call.
    revised_bouts_ : list of :class:`analysis.gait.WalkingBout`
        Always empty: a closed group is never reopened (kept for API compatibility).
    current_bout_ : WalkingBout or None
        Provisional figures of the bout in progress.
    bouts_ : deque of WalkingBout
        Finished bouts so far (at most ``max_history``).
    n_samples_ : int
        Samples received.
    """

    sampling_rate_hz: float
    sensor_height_m: float | None = None
    height_m: float | None = None
    window_s: float = 27.0
    hop_s: float = 0.5
    final_after_s: float = 12.0
    settle_s: float = 0.3
    provisional_tolerance_s: float = 0.15
    max_bout_steps: int = 20000
    max_history: int = 1000

    def __post_init__(self) -> None:
        self._reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> StreamingGait:
        """Forget all data and results (after a seek or a sensor change); returns self."""
        self._reset()
        return self

    def _reset(self) -> None:
        fs = float(self.sampling_rate_hz)
        if not np.isfinite(fs) or fs <= 0:
            raise ValueError(f"sampling_rate_hz must be > 0, got {self.sampling_rate_hz}")
        self._fs = fs
        self._cap = int(round(self.window_s * fs))
        self._hop = max(int(round(self.hop_s * fs)), 1)
        self._settle = int(round(self.settle_s * fs))
        self._final_age = int(round(self.final_after_s * fs))
        self._tol = int(round(self.provisional_tolerance_s * fs))
        self._q = decimation_factor(fs)
        self._ring = RingBuffer(self._cap, 6)  # acc xyz, gyr xyz
        self.n_samples_ = 0
        self._since = 0
        self._has_gyr = False
        self._l_m, self._l_src = resolve_sensor_height(self.sensor_height_m, self.height_m)
        self._wba = WalkingBoutAssembler()
        self._fwd: np.ndarray | None = None
        self._fwd_at = 0
        # the open group of final contacts (absolute samples) and, per step g[i] -> g[i+1],
        # (raw step length, no-lost-sample flag, mean up direction, tilt range)
        self._g_ic: list[int] = []
        self._g_lr: list[str] = []
        self._g_steps: list[tuple] = []
        self._horizon = -1  # contacts up to here are final
        self._emitted: dict[int, StreamStep] = {}  # emitted, not yet final (absolute sample)
        self._confirmed: dict[int, StreamStep] = {}  # emitted and final, in the open group
        self._last_emitted = -(10**12)
        self.bouts_: deque[WalkingBout] = deque(maxlen=self.max_history)
        self.current_bout_: WalkingBout | None = None
        self.new_steps_: list[StreamStep] = []
        self.new_strides_: list[Stride] = []
        self.new_bouts_: list[WalkingBout] = []
        self.retracted_steps_: list[StreamStep] = []
        self.revised_bouts_: list[WalkingBout] = []

    # ----------------------------------------------------------------- action
    def update(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray | None) -> StreamingGait:
        """Append a block of samples ((n, 3) each, NaN rows allowed); returns ``self``."""
        acc = np.asarray(acc_mps2, dtype=float).reshape(-1, 3)
        if gyr_radps is None:
            gyr = np.zeros_like(acc)
        else:
            gyr = np.asarray(gyr_radps, dtype=float).reshape(-1, 3)
            self._has_gyr = True
        if gyr.shape[0] != acc.shape[0]:
            raise ValueError(f"block has {acc.shape[0]} acc rows but {gyr.shape[0]} gyr rows")
        self._clear_outputs()
        block = np.concatenate([acc, gyr], axis=1)
        step = max(self._hop, 1)
        for i in range(0, block.shape[0], step):  # a long block: analyse as it fills
            part = block[i : i + step]
            self._write(part)
            self._since += part.shape[0]
            if self._since >= self._hop:
                self._analyse(final=False)
        return self

    def flush(self) -> StreamingGait:
        """End of stream: analyse what is left, make everything final, close the group."""
        self._clear_outputs()
        if self.n_samples_:
            self._analyse(final=True)
        self._close_group()
        self.retracted_steps_.extend(self._emitted.values())
        self._emitted = {}
        self.current_bout_ = None
        return self

    # --------------------------------------------------------------- helpers
    def _clear_outputs(self) -> None:
        self.new_steps_, self.new_strides_, self.new_bouts_ = [], [], []
        self.retracted_steps_, self.revised_bouts_ = [], []

    def _write(self, block: np.ndarray) -> None:
        self._ring.write(block)
        self.n_samples_ = self._ring.total

    def _window(self) -> tuple[np.ndarray, int]:
        """The buffered rows in time order and the stream index of the first."""
        return self._ring.latest(copy=False), self.n_samples_ - self._ring.filled

    def _analyse(self, final: bool) -> None:
        self._since = 0
        fs = self._fs
        win, start = self._window()
        # start on the internal-rate grid of the whole stream (input sample 0, q, 2q, ...),
        # so that the window is decimated exactly like the offline analysis decimates
        skip = (-start) % self._q
        win, start = win[skip:], start + skip
        now = self.n_samples_
        horizon = now if final else now - self._final_age
        tr = None
        if win.shape[0] >= 3 * fs and not np.isnan(win[:, 0]).all():
            tr = self._track(win, start)
        if tr is not None and tr.ic.size:
            abs_ic = tr.ic.astype(np.int64) * self._q + start
            # filters near the window's old edge see too little: nothing there is decided
            edge = start + (int(2 * fs) if start > 0 else 0)
            self._finalise(tr, abs_ic, start, edge, horizon)
            self._emit(tr, abs_ic, start, now if final else now - self._settle)
        self._horizon = max(self._horizon, horizon)
        self._retract_unconfirmed()
        if self._g_ic and self._horizon - self._g_ic[-1] > self._wba.max_break_s * fs:
            self._close_group()
        if tr is None or not tr.ic.size:
            self.current_bout_ = None

    def _track(self, win: np.ndarray, start: int) -> ContactTrack:
        fs = self._fs
        # the heading is re-estimated once per window length of data (or until walking has
        # given one); in between the last estimate is reused
        refresh = self._fwd is None or self.n_samples_ - self._fwd_at >= self._cap
        aligner = BodyFrameAligner(forward_sensor=None if refresh else self._fwd)
        tr = track_contacts(
            win[:, :3],
            win[:, 3:] if self._has_gyr else None,
            fs,
            sensor_height_m=self._l_m,
            aligner=aligner,
            first_sample=start,
        )
        al = tr.aligner
        if refresh:
            if al.heading_source_ == "walking":
                self._fwd, self._fwd_at = al.forward_sensor_, self.n_samples_
            else:  # keep any earlier estimate, try again after 2 s of data
                if self._fwd is None and np.all(np.isfinite(al.forward_sensor_)):
                    self._fwd = al.forward_sensor_
                self._fwd_at = self.n_samples_ - self._cap + int(2 * fs)
        return tr

    def _finalise(self, tr: ContactTrack, abs_ic, start: int, edge: int, horizon: int) -> None:
        """Contacts that crossed the final horizon since the last analysis become final."""
        sel = np.flatnonzero((abs_ic > self._horizon) & (abs_ic >= edge) & (abs_ic <= horizon))
        for j in sel:
            a = int(abs_ic[j])
            if self._g_ic and a - self._g_ic[-1] <= self._tol:
                continue  # the same contact, seen a sample or two later
            self._insert(a, str(tr.lr[j]), tr, start)

    def _insert(self, a: int, foot: str, tr: ContactTrack, start: int) -> None:
        fs = self._fs
        g = self._g_ic
        if g and a - g[-1] > self._wba.max_break_s * fs:
            self._close_group()
        if len(self._g_ic) >= self.max_bout_steps:
            self._close_group()
        g = self._g_ic
        pos = int(np.searchsorted(np.asarray(g, dtype=np.int64), a)) if g else 0
        g.insert(pos, a)
        self._g_lr.insert(pos, foot)

        if pos > 0:
            left = self._step(tr, start, g[pos - 1], a)
            if pos - 1 < len(self._g_steps):  # split an existing step
                self._g_steps[pos - 1] = left
            else:
                self._g_steps.append(left)
        if pos + 1 < len(g):
            self._g_steps.insert(pos, self._step(tr, start, a, g[pos + 1]))
        # the step emitted for this contact, if any, is confirmed
        if self._emitted:
            near = [p for p in self._emitted if abs(p - a) <= self._tol]
            if near:
                p = min(near, key=lambda x: abs(x - a))
                self._confirmed[a] = self._emitted.pop(p)

    def _step(self, tr: ContactTrack, start: int, x: int, y: int) -> tuple:
        """Step ``x -> y`` (absolute input samples) measured in the window's track."""
        if x < start:
            return np.nan, True, np.full(3, np.nan), np.nan
        q = self._q
        return tr.step((x - start) // q, (y - start) // q, self._l_m)

    def _retract_unconfirmed(self) -> None:
        """Emitted steps now older than the final horizon that no final contact confirmed."""
        for p in [p for p in self._emitted if p < self._horizon - self._tol]:
            self.retracted_steps_.append(self._emitted.pop(p))

    def _emit(self, tr: ContactTrack, abs_ic, start: int, newest: int) -> None:
        """Steps of the bout in progress, as soon as they are ``settle_s`` old.

        The open group's final contacts and the window's newer ones go through the bout
        rules (:meth:`_provisional_bout`); when they make a bout that reaches the newest
        contacts, its contacts from the bout's first on are emitted (the first ones together,
        once the bout has its fourth valid stride), each once.
        """
        ic, bout = self._provisional_bout(tr, abs_ic, start)
        self.current_bout_ = bout
        if bout is None:
            return
        first = int(round(bout.start_s * self._fs))
        # the newest contact waits for the next one: the bout rules drop a bout's closing
        # contact, so the step count never counts (and withdraws) the stopping step
        for a in ic[:-1]:
            # each contact once: one emitted earlier within the tolerance is the same one,
            # seen a sample or two off by an analysis that had less data after it
            if a < first - self._tol or a <= self._last_emitted + self._tol or a > newest:
                continue
            self._emit_one(int(a), tr, abs_ic, start)

    def _emit_one(self, a: int, tr: ContactTrack, abs_ic, start: int) -> None:
        fs = self._fs
        j = int(np.argmin(np.abs(abs_ic - a)))
        foot = str(tr.lr[j]) if abs(int(abs_ic[j]) - a) <= self._tol else "unknown"
        prev = [p for p in (*self._g_ic, *self._emitted) if p < a]
        prev2 = sorted(prev)[-2:]
        step_t = (a - prev2[-1]) / fs if prev2 else np.nan
        length = self._step(tr, start, prev2[-1], a)[0] if prev2 else np.nan
        st = StreamStep(a / fs, foot, step_t, length)
        if a in self._g_ic:  # already final: nothing left to confirm
            self._confirmed[a] = st
        else:
            self._emitted[a] = st
        self._last_emitted = max(self._last_emitted, a)
        self.new_steps_.append(st)
        if len(prev2) == 2:
            dur = (a - prev2[0]) / fs
            self.new_strides_.append(
                Stride(
                    start_s=prev2[0] / fs,
                    end_s=a / fs,
                    duration_s=dur,
                    length_m=np.nan,
                    speed_mps=np.nan,
                    foot=foot,
                    valid=bool(self._wba.stride_time_s[0] <= dur <= self._wba.stride_time_s[1]),
                )
            )

    def _bouts_of(self, ic, steps, lr) -> tuple[list[WalkingBout], np.ndarray]:
        """Bouts of contacts (absolute samples) with their steps, by the offline rules."""
        ic = np.asarray(ic, dtype=np.int64)
        if ic.size < 3:
            return [], np.zeros(ic.size, dtype=bool)
        sl, nanfree, up, tilt = (np.asarray(x) for x in zip(*steps))
        nanfree = nanfree.astype(bool)
        base = int(ic[0])
        bouts, _, keep = assemble_bouts(
            ic - base,
            sl.astype(float),
            nanfree[:-1] & nanfree[1:],
            self._fs,
            WalkingBoutAssembler(),
            np.asarray(lr),
            None,
            time_offset_s=base / self._fs,
            step_up_sensor=np.asarray(up, dtype=float).reshape(-1, 3),
            step_tilt_deg=tilt.astype(float),
        )
        return bouts, keep

    def _close_group(self) -> None:
        """Bouts of the open group (offline rules); steps outside them are withdrawn."""
        if self._g_ic:
            bouts, keep = self._bouts_of(self._g_ic, self._g_steps, self._g_lr)
            self.new_bouts_.extend(bouts)
            self.bouts_.extend(bouts)
            for a, inside in zip(self._g_ic, keep):
                st = self._confirmed.pop(a, None)
                if st is not None and not inside:
                    self.retracted_steps_.append(st)
                elif st is None and inside:  # a bout contact never emitted: emit it now
                    st = StreamStep(a / self._fs, "unknown", np.nan, np.nan)
                    self.new_steps_.append(st)
        self._confirmed = {}
        self._g_ic, self._g_lr, self._g_steps = [], [], []
        self.current_bout_ = None

    def _provisional_bout(self, tr: ContactTrack, abs_ic, start: int):
        """Contacts of the open group plus the window's newer ones, and their last bout.

        The bout is None unless the bout rules make one that reaches the newest contacts
        (the last two: the bout rules drop the closing stride) and the newest is less than
        ``max_break_s`` old.
        """
        fs = self._fs
        # the bout in progress over its last CURRENT_BOUT_STEPS contacts at most (its figures
        # for the live tiles; a bout of many minutes is not re-assembled whole 4 times a second)
        k = CURRENT_BOUT_STEPS
        ic, steps, lr = list(self._g_ic[-k:]), list(self._g_steps[-k + 1 :]), list(self._g_lr[-k:])
        if len(steps) >= len(ic):
            steps = steps[len(steps) - len(ic) + 1 :]
        for a in abs_ic[abs_ic > (ic[-1] + self._tol if ic else self._horizon)]:
            a = int(a)
            if ic:
                steps.append(self._step(tr, start, ic[-1], a))
            ic.append(a)
            lr.append(str(tr.lr[int(np.argmin(np.abs(abs_ic - a)))]))
        if len(ic) < 3 or self.n_samples_ - ic[-1] > self._wba.max_break_s * fs:
            return ic, None
        bouts, keep = self._bouts_of(ic, steps, lr)
        if bouts and keep[-2:].any():
            return ic, bouts[-1]
        return ic, None
