"""Live gait analysis: the offline chain fed sample blocks as they arrive.

:class:`StreamingGait` keeps the last ``window_s`` seconds in preallocated ring buffers
(bounded memory) and, every ``hop_s`` seconds of data, runs the *same* algorithms as
:class:`analysis.gait.GaitAnalyzer` on that window (orientation, gait sequences, initial
contacts, laterality, Zijlstra step lengths). Contacts at least ``settle_s`` old are final and
are emitted once; every new contact completes a step and, with the contact two before it, a
stride. A contact is final only when two successive analyses agree on it (``confirm_s``),
which keeps window-edge artefacts out. Contacts are grouped exactly like offline (a gap > 3 s
ends a group); when a group ends it goes through the shared :func:`analysis.gait.pipeline.assemble_bouts` (Hampel filter,
Mobilise-D bout rules with the upright-posture criterion, last-stride removal), so a finished
bout is computed by the offline code from the same contacts.

Provisional steps (latency). A confirmed contact needs its gait sequence, and the sequence
detector places the end of an ongoing sequence 0.3-0.8 s behind the newest data, so confirmed
contacts come a median 1.1 s (max 2.6 s) after they happened. Inside an established bout
(``min_established_steps`` confirmed contacts) the stream therefore also emits *provisional*
steps: the negative lobes of the contact detector's wavelet signal after the newest contact,
searched over the gait sequence holding that contact extended to the newest data (the region
and mean removal the detector uses once the sequence grows), once ``settle_s`` old, at most
half the longest valid stride (1.5 s) after the previous contact, and only while the step in
between holds a step candidate of the gait-sequence detector (its filtered norm beyond its
threshold). A provisional step (foot ``"unknown"``) is emitted once, with a provisional stride;
when the confirmed contact arrives (within ``provisional_tolerance_s`` = 0.15 s) nothing is
emitted again; a provisional step never confirmed within ``retract_after_s`` (8 s = window
minus the 2-s edge, after which it can no longer be confirmed) or by the end of the stream is
listed once in ``retracted_steps_``. Bouts use confirmed contacts only, so provisional steps
never change a bout. On the shared trials: established-bout steps are emitted a median
0.36-0.49 s after they happened (straight walks max 0.70 s); on HA-001-Test11, 3 of 43 come
1.2-2.6 s late (shallow steps in turns); one provisional step per bout on average is retracted
(the stopping step), never one inside an offline bout. A step counter is
``len(new_steps_) - len(retracted_steps_)`` summed over calls (it goes down by one when the
stopping step is withdrawn); ``len(confirmed_steps_)`` summed over calls never goes down
and lags the confirmed contacts' latency (median 1.1 s).

Gait sequences are remembered between analyses and merged with the window's by the offline
merge rule (< 3.5 s apart), because in a window the older of two such sequences can lose its
pulse train before the newer one is recognised. A bout is reported as ``current_bout_``
(provisional figures) from its fourth valid stride on and is closed ``max_break_s +
close_grace_s`` (3 + 1 s) after its last contact: the bout rule needs the 3-s pause by
definition. When a contact confirmed later joins the next group to within ``max_break_s`` of the
closed group (offline they are one group), the closed group is reopened: its bouts are
withdrawn (listed in ``revised_bouts_``) and the joined bout comes in ``new_bouts_`` when it
closes.

Per-block cost: copying the block into the ring buffers; the analysis runs at most once per
``hop_s`` on ``window_s`` of data (vectorised numpy/scipy, no per-sample Python loops).

Tolerance against offline (tested on all five shared trials): same bouts (>= 90 % overlap),
cadence within 1 step/min, speed within 0.05 m/s; provisional step times within 0.15 s of the
confirmed contact; contacts differ by at most a few samples because the filters see a
window instead of the whole recording.

Signal-based per-bout values (regularity, symmetry, harmonic ratio) need the bout's signal and
are NaN in streamed bouts; turns are not streamed (use the offline analysis).

NaN rows (lost samples) are allowed anywhere: they are interpolated for filtering, contacts on
them are dropped and strides over them are invalid, as offline.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from analysis.gait._signal import merge_intervals, minima_between_zero_crossings
from analysis.gait.bouts import GaitSequenceDetector, WalkingBoutAssembler
from analysis.gait.initial_contacts import InitialContactDetector, LateralityClassifier
from analysis.gait.parameters import StepLengthZijlstra, vertical_displacement
from analysis.gait.pipeline import (
    Stride,
    WalkingBout,
    assemble_bouts,
    bout_from_contacts,
    resolve_sensor_height,
    step_mean_up,
)
from analysis.orientation import BodyFrameAligner, fill_nan_rows

__all__ = ["StreamingGait", "StreamStep"]


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

        def f(x):
            return None if x is None or not np.isfinite(x) else round(float(x), 4)

        return {
            "time_s": f(self[0]),
            "foot": self[1],
            "step_time_s": f(self[2]),
            "step_length_m": f(self[3]),
        }


class StreamingGait:
    """Incremental gait analysis of one lower-back IMU (see module docstring).

    Parameters
    ----------
    sampling_rate_hz : float
    sensor_height_m, height_m : float or None
        As for :class:`analysis.gait.GaitAnalyzer`.
    window_s : float
        Length of the analysed ring buffer.
    hop_s : float
        Data between two analyses.
    settle_s : float
        Age a contact needs before it can be final.
    confirm_s : float
        A contact is final when two successive analyses find it within this tolerance.
    close_grace_s : float
        A group of contacts is closed ``max_break_s + close_grace_s`` after its last contact,
        so that contacts recognised late (when their gait sequence is established) can still
        join it. A later contact closer than ``max_break_s`` to the last one always joins.
    max_bout_steps : int
        A bout longer than this is closed and a new one started (bounds memory).
    max_history : int
        Finished bouts kept in ``bouts_`` (older ones are dropped).
    provisional : bool
        Emit provisional steps of an established bout (see module docstring).
    min_established_steps : int
        Confirmed contacts the open bout needs before provisional steps are emitted.
    provisional_tolerance_s : float
        A confirmed contact this close to a provisional one confirms it.
    retract_after_s : float
        Age after which an unconfirmed provisional step is retracted.

    Attributes (updated by :meth:`update`)
    ----------------------------------------
    new_steps_ : list of :class:`StreamStep`
        Contacts emitted by the last call (provisional ones have foot ``"unknown"``).
    retracted_steps_ : list of :class:`StreamStep`
        Provisional steps withdrawn by the last call (never confirmed).
    confirmed_steps_ : list of :class:`StreamStep`
        Contacts confirmed by the last call, whether or not they were emitted provisionally
        before: a count that never goes down is ``len(confirmed_steps_)`` summed over calls.
    new_strides_ : list of :class:`analysis.gait.Stride`
        Strides completed by the last call (provisional validity: duration rule only).
    new_bouts_ : list of :class:`analysis.gait.WalkingBout`
        Bouts closed by the last call.
    revised_bouts_ : list of :class:`analysis.gait.WalkingBout`
        Earlier bouts withdrawn by the last call (late contacts joined them to the open bout;
        the joined bout comes in ``new_bouts_`` when it closes).
    current_bout_ : WalkingBout or None
        Provisional figures of the bout in progress.
    bouts_ : deque of WalkingBout
        Finished bouts so far (at most ``max_history``).
    n_samples_ : int
        Samples received.
    """

    def __init__(
        self,
        sampling_rate_hz: float,
        sensor_height_m: float | None = None,
        height_m: float | None = None,
        window_s: float = 10.0,
        hop_s: float = 0.25,
        settle_s: float = 0.3,
        confirm_s: float = 0.05,
        close_grace_s: float = 1.0,
        max_bout_steps: int = 20000,
        max_history: int = 1000,
        provisional: bool = True,
        min_established_steps: int = 4,
        provisional_tolerance_s: float = 0.15,
        retract_after_s: float = 8.0,
    ) -> None:
        self.sampling_rate_hz = sampling_rate_hz
        self.sensor_height_m = sensor_height_m
        self.height_m = height_m
        self.window_s = window_s
        self.hop_s = hop_s
        self.settle_s = settle_s
        self.confirm_s = confirm_s
        self.close_grace_s = close_grace_s
        self.max_bout_steps = max_bout_steps
        self.max_history = max_history
        self.provisional = provisional
        self.min_established_steps = min_established_steps
        self.provisional_tolerance_s = provisional_tolerance_s
        self.retract_after_s = retract_after_s
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
        self._buf = np.full((self._cap, 6), np.nan)
        self._w = 0  # next write position
        self.n_samples_ = 0
        self._since = 0
        self._l_m, self._l_src = resolve_sensor_height(self.sensor_height_m, self.height_m)
        self._wba = WalkingBoutAssembler()
        self._last_ic = -(10**12)
        # current group of contacts (no break inside): absolute samples and feet; per step
        # (contact i -> i+1) the raw step length and whether no sample in it was lost
        self._g_ic: list[int] = []
        self._g_sl: list[float] = []
        self._g_nanfree: list[bool] = []
        self._g_up: list[np.ndarray] = []  # per step: mean up direction (posture criterion)
        self._closed_until = -1
        self._pending = np.empty(0, dtype=np.int64)
        self._gs_hist = np.empty((0, 2), dtype=np.int64)
        self._fwd: np.ndarray | None = None
        self._fwd_at = 0
        self._g_lr: list[str] = []
        self.bouts_: deque[WalkingBout] = deque(maxlen=self.max_history)
        self.current_bout_: WalkingBout | None = None
        self.new_steps_: list[StreamStep] = []
        self.new_strides_: list[Stride] = []
        self.new_bouts_: list[WalkingBout] = []
        self.retracted_steps_: list[StreamStep] = []
        self.confirmed_steps_: list[StreamStep] = []
        self.revised_bouts_: list[WalkingBout] = []
        self._last_group: tuple | None = None
        # provisional contacts of the open bout: (absolute sample, emitted step)
        self._prov: list[tuple[int, StreamStep]] = []

    # ----------------------------------------------------------------- action
    def update(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray | None) -> StreamingGait:
        """Append a block of samples ((n, 3) each, NaN rows allowed); returns ``self``."""
        acc = np.asarray(acc_mps2, dtype=float).reshape(-1, 3)
        gyr = (
            np.zeros_like(acc)
            if gyr_radps is None
            else np.asarray(gyr_radps, dtype=float).reshape(-1, 3)
        )
        if gyr.shape[0] != acc.shape[0]:
            raise ValueError(f"block has {acc.shape[0]} acc rows but {gyr.shape[0]} gyr rows")
        self.new_steps_, self.new_strides_, self.new_bouts_ = [], [], []
        self.retracted_steps_, self.revised_bouts_, self.confirmed_steps_ = [], [], []
        block = np.concatenate([acc, gyr], axis=1)
        n = block.shape[0]
        if n == 0:
            return self
        if n >= self._cap:  # a huge block: process it in window-sized pieces
            for i in range(0, n, self._cap // 2):
                part = block[i : i + self._cap // 2]
                self._write(part)
                self._since += part.shape[0]
                if self._since >= self._hop:
                    self._analyse(final=False)
            return self
        self._write(block)
        self._since += n
        if self._since >= self._hop:
            self._analyse(final=False)
        return self

    def flush(self) -> StreamingGait:
        """End of stream: analyse what is left and close the open bout; returns ``self``."""
        self.new_steps_, self.new_strides_, self.new_bouts_ = [], [], []
        self.retracted_steps_, self.revised_bouts_, self.confirmed_steps_ = [], [], []
        if self.n_samples_:
            self._analyse(final=True)
        self._close_group()
        self.retracted_steps_.extend(st for _, st in self._prov)
        self._prov = []
        self.current_bout_ = None
        return self

    # --------------------------------------------------------------- helpers
    def _write(self, block: np.ndarray) -> None:
        n = block.shape[0]
        end = self._w + n
        if end <= self._cap:
            self._buf[self._w : end] = block
        else:
            k = self._cap - self._w
            self._buf[self._w :] = block[:k]
            self._buf[: n - k] = block[k:]
        self._w = end % self._cap
        self.n_samples_ += n

    def _window(self) -> tuple[np.ndarray, int]:
        m = min(self.n_samples_, self._cap)
        if self.n_samples_ < self._cap:
            return self._buf[:m], 0
        return np.concatenate([self._buf[self._w :], self._buf[: self._w]]), (
            self.n_samples_ - self._cap
        )

    def _analyse(self, final: bool) -> None:
        self._since = 0
        fs = self._fs
        win, start = self._window()
        n = win.shape[0]
        now = self.n_samples_
        horizon = now if final else now - self._settle
        if n >= 3 * fs:
            self._detect(win, start, horizon)
        self._retract_old_provisional(horizon)
        self._close_if_break(horizon)
        self._update_current()

    def _detect(self, win: np.ndarray, start: int, horizon: int) -> None:
        fs = self._fs
        bad = ~np.all(np.isfinite(win), axis=1)
        if bad.all():
            return
        # the heading is re-estimated once per window length of data (or until walking has
        # given one); in between the last estimate is reused, which saves a third of the cost
        refresh = self._fwd is None or self.n_samples_ - self._fwd_at >= self._cap
        al = BodyFrameAligner(forward_sensor=None if refresh else self._fwd).align(
            win[:, :3], win[:, 3:], fs
        )
        if refresh:
            if al.heading_source_ == "walking":
                self._fwd, self._fwd_at = al.forward_sensor_, self.n_samples_
            else:  # keep any earlier estimate, try again after 2 s of data
                if self._fwd is None and np.all(np.isfinite(al.forward_sensor_)):
                    self._fwd = al.forward_sensor_
                self._fwd_at = self.n_samples_ - self._cap + int(2 * fs)
        body, _ = fill_nan_rows(al.acc_body_mps2_)
        gyr_body, _ = fill_nan_rows(al.gyr_body_radps_)
        acc_f, _ = fill_nan_rows(win[:, :3])
        gsd = GaitSequenceDetector().detect(acc_f, fs)
        gs = self._merge_sequence_history(gsd.gait_sequences_, start, win.shape[0], gsd.max_gap_s)
        if gs.shape[0] == 0:
            return
        icd = InitialContactDetector().detect(body[:, 0], fs, gs)
        ic = icd.ic_
        ic = ic[~bad[ic]] if ic.size else ic
        edge = int(2 * fs) if start > 0 else 0  # filters near the window's old edge: not final
        absic = ic + start
        sep = int(0.25 * fs)
        cand = (absic <= horizon) & (ic >= edge)
        if self._g_ic:
            g = np.asarray(self._g_ic)
            near = np.abs(absic[:, None] - g[None, :]).min(axis=1) <= sep
            cand &= ~near & (absic > g[0] - self._wba.max_break_s * fs)
        cand &= absic > self._closed_until
        # a contact must be found by two successive analyses (within confirm_s) to be final
        prev = self._pending
        self._pending = absic[cand]
        if prev.size and cand.any():
            tol = self.confirm_s * fs
            cand[cand] = np.abs(absic[cand][:, None] - prev[None, :]).min(axis=1) <= tol
        else:
            cand[:] = False
        ctx = None
        if cand.any():
            ctx = self._context(body, gyr_body, bad, start, al.gravity_sensor_)
            lr = LateralityClassifier().predict(gyr_body, ic, fs).lr_
            for j in np.flatnonzero(cand):
                self._add_contact(int(absic[j]), str(lr[j]), ctx)
        if self.provisional:
            self._provisional_contacts(
                icd.wavelet_signal_,
                gs,
                np.abs(gsd.filtered_signal_),
                gsd.threshold_mps2,
                start,
                horizon,
                bad,
                ctx or (body, gyr_body, al.gravity_sensor_),
            )

    def _merge_sequence_history(self, gs, start, n, max_gap_s) -> np.ndarray:
        """Window sequences merged with those found before, as the offline detector merges.

        The offline detector merges sequences less than ``max_gap_s`` apart; in a window the
        older of two such sequences may have lost the start of its pulse train (so it is no
        longer found) by the time the newer one is recognised. Sequences found by earlier
        analyses are therefore remembered (only while they can still merge with the window)
        and merged with the window's by the same rule.
        """
        gap = max_gap_s * self._fs
        cur = gs.astype(np.int64) + start
        hist = self._gs_hist
        hist = hist[hist[:, 1] >= start - gap] if hist.size else hist
        allgs = np.concatenate([hist, cur]) if hist.size else cur
        if allgs.shape[0] == 0:
            self._gs_hist = np.empty((0, 2), dtype=np.int64)
            return gs
        merged = merge_intervals(allgs, gap).astype(np.int64)
        # remember only sequences that are not older than the window (bounded memory)
        self._gs_hist = merged[merged[:, 1] >= start - gap]
        local = np.clip(merged - start, 0, n)
        local = local[local[:, 1] > local[:, 0]]
        # a remembered sequence only joins one found now (it was already searched otherwise)
        if cur.shape[0] == 0:
            return local[:0]
        keep = (local[:, 1] >= np.min(gs[:, 0])) if gs.size else np.zeros(len(local), bool)
        return local[keep]

    def _context(self, body, gyr_body, bad, start, grav):
        cb = np.r_[0, np.cumsum(bad)]
        return (start, vertical_displacement(body[:, 0], self._fs), cb, body.shape[0], grav)

    def _provisional_contacts(self, w, gs, gsd_abs, gsd_thr, start, horizon, bad, ctx) -> None:
        """Emit contacts of an established bout before the gait-sequence detector confirms them.

        Inside a bout with at least ``min_established_steps`` contacts, every negative lobe of
        the contact detector's wavelet signal after the newest contact is a provisional contact
        when it is at least ``settle_s`` old, at most half the longest valid stride (1.5 s)
        after the previous contact, and the step in between holds a step candidate of the
        gait-sequence detector (its filtered acceleration norm beyond its threshold), i.e. the
        same evidence of a step the detector uses, without its pulse-train context.
        """
        fs = self._fs
        if len(self._g_ic) < self.min_established_steps:
            return
        last = self._prov[-1][0] if self._prov else self._g_ic[-1]
        last = max(last, self._g_ic[-1])
        n = w.size
        # the gait sequence holding the newest contact, extended to the newest data: the same
        # region (and mean removal) the contact detector will use once the sequence grows
        row = np.flatnonzero((gs[:, 0] <= last - start) & (gs[:, 1] > last - start))
        if row.size == 0 or n - gs[row[-1], 0] < 3:
            return
        lo = int(gs[row[-1], 0])
        seg = w[lo:]
        m = minima_between_zero_crossings(seg - seg.mean()) + lo
        max_step = int(0.5 * self._wba.stride_time_s[1] * fs)
        min_step = int(0.25 * fs)
        added = False
        for loc in m:
            a = int(loc + start)
            if a > horizon:
                break
            if a - last < min_step or bad[loc]:
                continue
            if a - last > max_step:
                break
            if gsd_abs[max(last - start, 0) : loc + 1].max() < gsd_thr:
                break
            if not added and len(ctx) == 3:  # signal context only when needed
                body, gyr_body, grav = ctx
                ctx = self._context(body, gyr_body, bad, start, grav)
            added = True
            self._emit_provisional(a, last, ctx)
            last = a

    def _emit_provisional(self, a: int, prev: int, ctx) -> None:
        fs = self._fs
        length, _, _ = self._step(prev, a, ctx)
        prov_len = {p: st[3] for p, st in self._prov}
        before = sorted(set(self._g_ic[-2:]) | set(prov_len))
        step = StreamStep(a / fs, "unknown", (a - prev) / fs, length)
        self._prov.append((a, step))
        self.new_steps_.append(step)
        if len(before) < 2 or before[-1] != prev:
            return
        s0 = before[-2]
        if prev in prov_len:
            prev_len = prov_len[prev]
        else:
            prev_len = self._g_sl[-1] if self._g_sl and s0 == self._g_ic[-2] else np.nan
        dur = (a - s0) / fs
        slen = float(prev_len + length)
        self.new_strides_.append(
            Stride(
                start_s=s0 / fs,
                end_s=a / fs,
                duration_s=dur,
                length_m=slen,
                speed_mps=slen / dur if dur > 0 else np.nan,
                foot="unknown",
                valid=bool(self._wba.stride_time_s[0] <= dur <= self._wba.stride_time_s[1]),
            )
        )

    def _retract_old_provisional(self, horizon: int) -> None:
        limit = int(self.retract_after_s * self._fs)
        keep = []
        for a, st in self._prov:
            if horizon - a > limit:
                self.retracted_steps_.append(st)
            else:
                keep.append((a, st))
        self._prov = keep

    def _step(self, a: int, b: int, ctx) -> tuple[float, bool, np.ndarray]:
        """Raw Zijlstra length, 'no lost sample' flag and mean up direction of step a -> b."""
        start, disp, cb, n, grav = ctx
        la, lb = a - start, b - start
        if la < 0 or lb >= n:
            return np.nan, True, np.full(3, np.nan)
        pair = np.array([la, lb])
        length = float(StepLengthZijlstra().calculate(disp, pair, self._l_m).step_length_m_[0])
        return length, bool(cb[lb + 1] - cb[la] == 0), step_mean_up(grav, pair)[0]

    def _add_contact(self, a: int, foot: str, ctx) -> None:
        self._insert_contact(a, foot, ctx)
        if self._g_ic and self._g_ic[0] == a:
            self._reopen_if_late(ctx)

    def _insert_contact(self, a: int, foot: str, ctx) -> None:
        fs = self._fs
        if self._g_ic and a - self._g_ic[-1] > self._wba.max_break_s * fs:
            self._close_group()
        if len(self._g_ic) >= self.max_bout_steps:
            self._close_group(reopenable=False)
        g = self._g_ic
        pos = int(np.searchsorted(np.asarray(g, dtype=np.int64), a)) if g else 0
        g.insert(pos, a)
        self._g_lr.insert(pos, foot)
        # steps: index i is the step g[i] -> g[i+1]
        if pos > 0:
            left = self._step(g[pos - 1], a, ctx)
            if pos - 1 < len(self._g_sl):  # split an existing step
                self._g_sl[pos - 1], self._g_nanfree[pos - 1], self._g_up[pos - 1] = left
            else:
                self._g_sl.append(left[0])
                self._g_nanfree.append(left[1])
                self._g_up.append(left[2])
        if pos + 1 < len(g):
            right = self._step(a, g[pos + 1], ctx)
            self._g_sl.insert(pos, right[0])
            self._g_nanfree.insert(pos, right[1])
            self._g_up.insert(pos, right[2])
        self._last_ic = max(self._last_ic, a)
        step_t = (a - g[pos - 1]) / fs if pos > 0 else np.nan
        step_l = self._g_sl[pos - 1] if pos > 0 else np.nan
        self.confirmed_steps_.append(StreamStep(a / fs, foot, step_t, step_l))
        if self._prov:  # already emitted provisionally: confirm it, emit nothing new
            tol = self.provisional_tolerance_s * fs
            d = [abs(p - a) for p, _ in self._prov]
            j = int(np.argmin(d))
            if d[j] <= tol:
                # earlier provisional contacts that no confirmed one matched are retracted
                self.retracted_steps_.extend(st for _, st in self._prov[:j])
                del self._prov[: j + 1]
                return
        self.new_steps_.append(StreamStep(a / fs, foot, step_t, step_l))
        if pos >= 2:
            dur = (a - g[pos - 2]) / fs
            length = self._g_sl[pos - 2] + self._g_sl[pos - 1]
            ok = self._g_nanfree[pos - 2] and self._g_nanfree[pos - 1]
            self.new_strides_.append(
                Stride(
                    start_s=g[pos - 2] / fs,
                    end_s=a / fs,
                    duration_s=dur,
                    length_m=float(length),
                    speed_mps=float(length / dur) if dur > 0 else np.nan,
                    foot=self._g_lr[pos - 2],
                    valid=bool(
                        ok and self._wba.stride_time_s[0] <= dur <= self._wba.stride_time_s[1]
                    ),
                )
            )

    def _stride_ok(self) -> np.ndarray:
        nf = np.asarray(self._g_nanfree, dtype=bool)
        return nf[:-1] & nf[1:] if nf.size >= 2 else np.zeros(0, dtype=bool)

    def _update_current(self) -> None:
        ic = np.asarray(self._g_ic)
        if ic.size < 2 + self._wba.min_strides:
            self.current_bout_ = None
            return
        fs = self._fs
        sdur = (ic[2:] - ic[:-2]) / fs
        valid = (sdur >= self._wba.stride_time_s[0]) & (sdur <= self._wba.stride_time_s[1])
        valid &= self._stride_ok()
        if valid.sum() < self._wba.min_strides:
            self.current_bout_ = None
            return
        bout, _ = bout_from_contacts(
            ic - ic[0], np.asarray(self._g_sl), valid, fs, None, np.asarray(self._g_lr)
        )
        off = ic[0] / fs
        self.current_bout_ = WalkingBout(
            **{**bout.__dict__, "start_s": bout.start_s + off, "end_s": bout.end_s + off}
        )

    def _close_if_break(self, horizon: int) -> None:
        limit = (self._wba.max_break_s + self.close_grace_s) * self._fs
        if self._g_ic and horizon - self._g_ic[-1] > limit:
            self._close_group()

    def _reopen_if_late(self, ctx) -> None:
        """Join the last closed group when a late contact brings the open one within a break.

        Contacts that the gait-sequence detector recognises only with more context can be
        confirmed after their group was closed; when the open group then starts within
        ``max_break_s`` of the closed group's last contact, offline they are one group: the
        closed group's bouts are withdrawn (``revised_bouts_``) and its contacts rejoin.
        """
        lg = self._last_group
        if lg is None or not self._g_ic or len(lg[0]) + len(self._g_ic) > self.max_bout_steps:
            return
        gap = self._g_ic[0] - lg[0][-1]
        if not 0 < gap <= self._wba.max_break_s * self._fs:
            return
        length, nanfree, up = self._step(lg[0][-1], self._g_ic[0], ctx)
        self._g_ic = lg[0] + self._g_ic
        self._g_sl = lg[1] + [length] + self._g_sl
        self._g_nanfree = lg[2] + [nanfree] + self._g_nanfree
        self._g_up = lg[3] + [up] + self._g_up
        self._g_lr = lg[4] + self._g_lr
        for b in reversed(lg[5]):
            if self.bouts_ and self.bouts_[-1] is b:
                self.bouts_.pop()
            if b in self.new_bouts_:
                self.new_bouts_.remove(b)
            self.revised_bouts_.append(b)
        self._last_group = None

    def _close_group(self, reopenable: bool = True) -> None:
        ic = np.asarray(self._g_ic, dtype=int)
        if ic.size >= 3:
            base = int(ic[0])
            bouts, _, _ = assemble_bouts(
                ic - base,
                np.asarray(self._g_sl),
                self._stride_ok(),
                self._fs,
                WalkingBoutAssembler(),
                np.asarray(self._g_lr),
                None,
                time_offset_s=base / self._fs,
                step_up_sensor=np.asarray(self._g_up).reshape(-1, 3),
            )
            self.new_bouts_.extend(bouts)
            self.bouts_.extend(bouts)
        else:
            bouts = []
        self._last_group = None
        if self._g_ic and reopenable:
            self._last_group = (
                self._g_ic,
                self._g_sl,
                self._g_nanfree,
                self._g_up,
                self._g_lr,
                bouts,
            )
        if self._g_ic:
            self._closed_until = self._g_ic[-1] + int(0.25 * self._fs)
        self._g_ic, self._g_sl, self._g_nanfree, self._g_lr = [], [], [], []
        self._g_up = []
        self.current_bout_ = None
