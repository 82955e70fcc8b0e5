"""Gap accounting: every lost sample is reported, no sample is counted twice.

Every device driver (:mod:`sensors.devices`) places each decoded sample on the device's
own *sample index*: consecutive samples have consecutive indices, whatever the device
uses to say so (a Poise wearable's microsecond timestamps on a fixed grid, a Polar
sensor's nanosecond timestamps, a MetaWear packet counter). A jump in the index is a
loss, whatever the packet sizes; a packet sequence number, where the protocol has one,
also says how many packets. A :class:`GapTracker` compares each arriving frame with the
next expected index and returns a :class:`Verdict`:

* ``accept``: new samples, possibly after a :class:`Gap` (lost packets, or a disconnect:
  a device that keeps counting while the link is down makes the gap span the outage);
* ``duplicate``: every sample is already known (a re-sent packet after a reconnect);
  the frame is dropped, nothing is counted twice;
* ``overlap``: the first ``skip`` samples are known, the rest is new;
* ``reset``: the index jumped back by more than ``max_step_back_s`` (or forward by more
  than ``max_gap_s``): the device's counter or clock restarted (reboot, battery change).
  The tracker restarts at the new frame; the caller accounts the outage from host time
  (:meth:`GapTracker.restart`) because the device cannot measure it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SEQ_MODULUS = 1 << 16

GapCause = Literal["loss", "link", "reset"]


@dataclass(frozen=True)
class Gap:
    """Samples a sensor took that never arrived.

    Attributes
    ----------
    start_index
        Sample index of the first missing sample (the device's counter).
    samples
        Number of missing samples; ``end_index = start_index + samples``.
    packets
        Number of missing packets (from the sequence numbers), -1 when unknown.
    cause
        ``"loss"`` (packets dropped on a live link), ``"link"`` (the link was down),
        ``"reset"`` (the device's counter restarted; span estimated from host time).
    start_sensor_s
        Device time (seconds, the driver's clock) of the first missing sample.
    sampling_rate_hz
        Nominal rate (for :attr:`duration_s`).
    start_host_s, end_host_s
        The span on the host timeline (filled in by the stream from its clock model).
    """

    start_index: int
    samples: int
    packets: int = -1
    cause: GapCause = "loss"
    start_sensor_s: float = float("nan")
    sampling_rate_hz: float = float("nan")
    start_host_s: float = float("nan")
    end_host_s: float = float("nan")

    @property
    def end_index(self) -> int:
        """Index of the first sample after the gap (exclusive end)."""
        return self.start_index + self.samples

    @property
    def duration_s(self) -> float:
        """Length of the gap at the nominal rate, seconds."""
        return self.samples / self.sampling_rate_hz

    def to_dict(self) -> dict[str, int | float | str]:
        """JSON-ready form (GAP records, events)."""
        return {
            "start_index": int(self.start_index),
            "end_index": int(self.end_index),
            "samples": int(self.samples),
            "packets": int(self.packets),
            "cause": self.cause,
            "start_sensor_s": float(self.start_sensor_s),
            "start_host_s": float(self.start_host_s),
            "end_host_s": float(self.end_host_s),
        }


@dataclass(frozen=True)
class Verdict:
    """What to do with one arriving frame (see the module docstring)."""

    action: Literal["accept", "duplicate", "overlap", "reset"]
    skip: int = 0
    gap: Gap | None = None


@dataclass
class GapTracker:
    """Per-sensor bookkeeping of expected samples, gaps and duplicates.

    Parameters
    ----------
    sampling_rate_hz
        Nominal rate (converts the second thresholds to samples).
    seq_modulus
        Modulus of the frames' sequence numbers (``None``: the protocol has none).
    max_gap_s
        A forward jump larger than this is taken as a reset, not a gap.
    max_step_back_s
        A backward jump larger than this is taken as a reset, not a duplicate.

    Attributes
    ----------
    samples_received, samples_lost, packets_received, packets_lost, duplicates
        Running totals (duplicates are frames dropped entirely or partly).
    gaps
        Every gap reported, in order.
    """

    sampling_rate_hz: float
    seq_modulus: int | None = SEQ_MODULUS
    max_gap_s: float = 3600.0
    max_step_back_s: float = 5.0
    samples_received: int = 0
    samples_lost: int = 0
    packets_received: int = 0
    packets_lost: int = 0
    duplicates: int = 0
    gaps: list[Gap] = field(default_factory=list)
    _next: int | None = None
    _next_seq: int | None = None
    _link_lost: bool = False
    _fresh: tuple[str, int] | None = None

    def expect_fresh_start(self, how: tuple[str, int] = ("seq", 0)) -> None:
        """The device was idle and a start follows; the first frame reveals earlier losses.

        ``("seq", 0)``: the first packet carries seq 0; if the first one that arrives has
        seq ``k > 0``, the ``k`` packets before it were lost (assumed as large as it;
        Poise SPEC.md 4.2). ``("index", i)``: the first sample has index ``i``; a first
        frame starting later reveals the samples before it.
        """
        if self._next is None:
            self._fresh = how

    @property
    def next_expected(self) -> int | None:
        """Index of the next sample expected, ``None`` before the first frame."""
        return self._next

    @property
    def loss_fraction(self) -> float:
        """Lost / (received + lost) samples, 0 when nothing is known yet."""
        total = self.samples_received + self.samples_lost
        return self.samples_lost / total if total else 0.0

    def mark_link_lost(self) -> None:
        """The link went down: the next gap is attributed to the outage (cause ``link``)."""
        self._link_lost = True

    def _seq_gap(self, seq: int | None) -> int:
        if seq is None or self._next_seq is None or self.seq_modulus is None:
            return -1
        return (seq - self._next_seq) % self.seq_modulus

    def check(self, seq: int | None, first_index: int, n_samples: int) -> Verdict:
        """Classify a frame without changing any state."""
        rate = self.sampling_rate_hz
        if self._next is None:
            how = self._fresh
            if how is not None and how[0] == "seq" and seq is not None and 0 < seq < 1024:
                lost = seq * n_samples
                return Verdict("accept", gap=Gap(first_index - lost, int(lost), int(seq), "loss"))
            if how is not None and how[0] == "index" and first_index > how[1]:
                lost = first_index - how[1]
                if lost <= self.max_gap_s * rate:
                    return Verdict("accept", gap=Gap(how[1], int(lost), -1, "loss"))
            return Verdict("accept")
        delta = first_index - self._next
        if delta < -self.max_step_back_s * rate or delta > self.max_gap_s * rate:
            return Verdict("reset")
        if delta > 0:
            return Verdict(
                "accept",
                gap=Gap(
                    self._next,
                    int(delta),
                    int(self._seq_gap(seq)),
                    "link" if self._link_lost else "loss",
                ),
            )
        if delta == 0:
            return Verdict("accept")
        known = int(-delta)
        if known >= n_samples:
            return Verdict("duplicate", skip=n_samples)
        return Verdict("overlap", skip=known)

    def accept(self, seq: int | None, first_index: int, n_samples: int) -> Verdict:
        """Classify a frame and book it (the normal path, one call per frame)."""
        v = self.check(seq, first_index, n_samples)
        if v.action == "duplicate":
            self.duplicates += 1
            return v
        if v.action == "reset":
            return v
        if v.action == "overlap":
            self.duplicates += 1
        if v.gap is not None:
            self._book(v.gap)
        self._fresh = None
        self._advance(seq, first_index, n_samples, v.skip)
        return v

    def _book(self, gap: Gap) -> None:
        self.samples_lost += gap.samples
        if gap.packets > 0:
            self.packets_lost += gap.packets
        self.gaps.append(gap)
        self._link_lost = False

    def _advance(self, seq: int | None, first_index: int, n: int, skip: int = 0) -> None:
        self.samples_received += n - skip
        self.packets_received += 1
        self._next = first_index + n
        if seq is not None and self.seq_modulus is not None:
            self._next_seq = (seq + 1) % self.seq_modulus
        else:
            self._next_seq = None

    def restart(
        self, seq: int | None, first_index: int, n_samples: int, lost_samples: int
    ) -> Gap | None:
        """Book a frame after a reset; ``lost_samples`` estimated by the caller.

        ``first_index`` is the frame's index after the decoder renumbered it. Returns the
        gap booked (cause ``reset``), ``None`` if ``lost_samples`` is 0.
        """
        gap = None
        if lost_samples > 0:
            gap = Gap(first_index - lost_samples, int(lost_samples), -1, "reset")
            self._book(gap)
        self._link_lost = False
        self._advance(seq, first_index, n_samples)
        return gap

    def book_external(self, gap: Gap) -> None:
        """Book a gap found outside :meth:`accept` (losses at the end of a stream)."""
        self._book(gap)
        if self._next is not None and gap.end_index > self._next:
            self._next = gap.end_index
