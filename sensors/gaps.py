"""Gap accounting: every lost sample is reported, no sample is counted twice.

A wearable numbers its data packets (16-bit ``seq``) and stamps the first sample of each
with its own microsecond clock. The sensor samples on a fixed grid of its clock
(``sample_period_us``), so the *timestamps* say exactly how many samples are missing
between two received packets, whatever the packet sizes; the sequence numbers say how
many packets. A :class:`GapTracker` compares each arriving packet with the next expected
sample time and returns a :class:`Verdict`:

* ``accept``: new samples, possibly after a :class:`Gap` (lost packets, or a disconnect:
  the sensor keeps sampling while the link is down, so the gap spans the outage);
* ``duplicate``: every sample is already known (a re-sent packet after a reconnect);
  the packet is dropped, nothing is counted twice;
* ``overlap``: the first ``skip`` samples are known, the rest is new;
* ``reset``: the timestamp jumped back by more than ``max_step_back_s`` (or forward by
  more than ``max_gap_s``): the sensor's clock restarted (reboot, battery change).
  The tracker restarts at the new packet; the caller accounts the outage from host time
  (``GapTracker.reset_gap``) because sensor timestamps cannot measure it.

Timestamps must be unwrapped first (:class:`sensors.clock.TimestampUnwrapper`).
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
    start_us
        Sensor time (unwrapped, us) of the first missing sample.
    samples
        Number of missing samples.
    period_us
        Sample period (us), so ``end_us = start_us + samples * period_us``.
    packets
        Number of missing packets (from the sequence numbers), -1 when unknown.
    cause
        ``"loss"`` (packets dropped on a live link), ``"link"`` (the link was down),
        ``"reset"`` (the sensor clock restarted; span estimated from host time).
    start_host_s, end_host_s
        The span on the host timeline (filled in by the stream from its clock model).
    """

    start_us: int
    samples: int
    period_us: int
    packets: int = -1
    cause: GapCause = "loss"
    start_host_s: float = float("nan")
    end_host_s: float = float("nan")

    @property
    def end_us(self) -> int:
        """Sensor time (us) of the first sample after the gap (exclusive end)."""
        return self.start_us + self.samples * self.period_us

    @property
    def duration_s(self) -> float:
        """Length of the gap in seconds of sensor time."""
        return self.samples * self.period_us * 1e-6

    def to_dict(self) -> dict[str, int | float | str]:
        """JSON-ready form (GAP records, events)."""
        return {
            "start_us": int(self.start_us),
            "end_us": int(self.end_us),
            "samples": int(self.samples),
            "period_us": int(self.period_us),
            "packets": int(self.packets),
            "cause": self.cause,
            "start_host_s": float(self.start_host_s),
            "end_host_s": float(self.end_host_s),
        }


@dataclass(frozen=True)
class Verdict:
    """What to do with one arriving packet (see the module docstring)."""

    action: Literal["accept", "duplicate", "overlap", "reset"]
    skip: int = 0
    gap: Gap | None = None


@dataclass
class GapTracker:
    """Per-sensor bookkeeping of expected samples, gaps and duplicates.

    Parameters
    ----------
    period_us
        Nominal sample period in sensor microseconds.
    max_gap_s
        A forward jump larger than this is taken as a clock reset, not a gap.
    max_step_back_s
        A backward jump larger than this is taken as a clock reset, not a duplicate.

    Attributes
    ----------
    samples_received, samples_lost, packets_received, packets_lost, duplicates
        Running totals (duplicates are packets dropped entirely or partly).
    gaps
        Every gap reported, in order.
    """

    period_us: int
    max_gap_s: float = 3600.0
    max_step_back_s: float = 5.0
    samples_received: int = 0
    samples_lost: int = 0
    packets_received: int = 0
    packets_lost: int = 0
    duplicates: int = 0
    gaps: list[Gap] = field(default_factory=list)
    _next_us: int | None = None
    _next_seq: int | None = None
    _link_lost: bool = False
    _fresh: bool = False

    def expect_fresh_start(self) -> None:
        """The sensor was idle and a START follows: its first packet carries seq 0.

        If the first packet that arrives has seq ``k > 0``, the ``k`` packets before it
        were lost; they are reported as a gap ending at that packet, assuming they held
        as many samples as it does (SPEC.md: a fresh start resets seq to 0).
        """
        if self._next_us is None:
            self._fresh = True

    @property
    def next_expected_us(self) -> int | None:
        """Sensor time of the next sample expected, ``None`` before the first packet."""
        return self._next_us

    @property
    def loss_fraction(self) -> float:
        """Lost / (received + lost) samples, 0 when nothing is known yet."""
        total = self.samples_received + self.samples_lost
        return self.samples_lost / total if total else 0.0

    def mark_link_lost(self) -> None:
        """The link went down: the next gap is attributed to the outage (cause ``link``)."""
        self._link_lost = True

    def check(self, seq: int, first_us: int, n_samples: int) -> Verdict:
        """Classify a packet without changing any state."""
        p = self.period_us
        if self._next_us is None:
            if self._fresh and 0 < seq < 1024:
                lost = seq * n_samples
                return Verdict(
                    "accept",
                    gap=Gap(
                        start_us=first_us - lost * p,
                        samples=int(lost),
                        period_us=p,
                        packets=int(seq),
                        cause="loss",
                    ),
                )
            return Verdict("accept")
        delta_us = first_us - self._next_us
        if delta_us < -self.max_step_back_s * 1e6 or delta_us > self.max_gap_s * 1e6:
            return Verdict("reset")
        missing = (delta_us + p // 2) // p  # nearest whole number of periods
        if missing > 0:
            seq_missing = -1
            if self._next_seq is not None:
                seq_missing = (seq - self._next_seq) % SEQ_MODULUS
            return Verdict(
                "accept",
                gap=Gap(
                    start_us=self._next_us,
                    samples=int(missing),
                    period_us=p,
                    packets=int(seq_missing),
                    cause="link" if self._link_lost else "loss",
                ),
            )
        if missing == 0:
            return Verdict("accept")
        known = int(-missing)
        if known >= n_samples:
            return Verdict("duplicate", skip=n_samples)
        return Verdict("overlap", skip=known)

    def accept(self, seq: int, first_us: int, n_samples: int) -> Verdict:
        """Classify a packet and book it (the normal path, one call per packet)."""
        v = self.check(seq, first_us, n_samples)
        if v.action == "duplicate":
            self.duplicates += 1
            return v
        if v.action == "reset":
            return v
        if v.action == "overlap":
            self.duplicates += 1
        if v.gap is not None:
            self.samples_lost += v.gap.samples
            if v.gap.packets > 0:
                self.packets_lost += v.gap.packets
            self.gaps.append(v.gap)
            self._link_lost = False
        self._fresh = False
        self.samples_received += n_samples - v.skip
        self.packets_received += 1
        self._next_us = first_us + n_samples * self.period_us
        self._next_seq = (seq + 1) % SEQ_MODULUS
        return v

    def restart(self, seq: int, first_us: int, n_samples: int, lost_samples: int) -> Gap | None:
        """Book a packet after a clock reset; ``lost_samples`` estimated by the caller.

        Returns the gap booked (cause ``reset``), ``None`` if ``lost_samples`` is 0.
        """
        gap = None
        if lost_samples > 0:
            gap = Gap(
                start_us=first_us - lost_samples * self.period_us,
                samples=int(lost_samples),
                period_us=self.period_us,
                packets=-1,
                cause="reset",
            )
            self.samples_lost += gap.samples
            self.gaps.append(gap)
        self._link_lost = False
        self.samples_received += n_samples
        self.packets_received += 1
        self._next_us = first_us + n_samples * self.period_us
        self._next_seq = (seq + 1) % SEQ_MODULUS
        return gap
