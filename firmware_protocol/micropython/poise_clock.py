# The 32-bit microsecond sensor clock (SPEC 3.5) and the sample grid, from ticks_us.
#
# MicroPython's time.ticks_us() wraps at a port-specific period: 2**30 us (17.9 min)
# on the ESP32, where ticks are small ints; 2**62 on the 64-bit unix port. The only
# portable arithmetic is time.ticks_diff / time.ticks_add, which are exact as long as
# the two values are less than half a period apart ("ticks_diff ... the result is
# within -TICKS_PERIOD/2 .. TICKS_PERIOD/2 - 1", MicroPython docs, time module).
# Clock32 therefore accumulates ticks_diff steps into a 32-bit counter, read at least
# every few seconds (the main loop reads it every few ms), so neither the 2**30 wrap of
# the ticks nor the 2**32 wrap of the sensor clock makes a jump.
#
# The counter is held as two 16-bit halves so that no int above 2**30 (a heap-allocated
# long on the ESP32) is ever built on the streaming path.
#
# Pure: the ticks functions are passed in (time.ticks_us etc. on a board; a simulated
# ticks counter in the tests and the CPython harness).

from micropython import const

_MASK16 = const(0xFFFF)


class Clock32:
    """Free-running 32-bit microsecond sensor clock driven by a wrapping ticks counter.

    Parameters
    ----------
    ticks_us, ticks_diff, ticks_add
        The port's ticks functions (``time.ticks_us`` ...).
    start_hi, start_lo
        Clock value at construction, (hi << 16) | lo; arbitrary (SPEC 3.5).
    """

    def __init__(self, ticks_us, ticks_diff, ticks_add, start_hi=0, start_lo=0):
        self.ticks_us = ticks_us
        self.ticks_diff = ticks_diff
        self.ticks_add = ticks_add
        self.hi = start_hi & _MASK16
        self.lo = start_lo & _MASK16
        self.last = ticks_us()

    def update(self):
        """Advance to now; returns the ticks value read. Must run at least once per
        half ticks period (2**29 us, about 9 minutes, on the ESP32)."""
        now = self.ticks_us()
        d = self.ticks_diff(now, self.last)
        if d > 0:
            lo = self.lo + d
            self.hi = (self.hi + (lo >> 16)) & _MASK16
            self.lo = lo & _MASK16
            self.last = now
        return now

    def at(self, ticks):
        """Clock (hi, lo) at a ticks value near the last update (either side, within
        2**29 us); returns a tuple (control path only)."""
        d = self.ticks_diff(ticks, self.last)
        lo = self.lo + d
        return (self.hi + (lo >> 16)) & _MASK16, lo & _MASK16

    def value(self):
        """The clock as one Python int (tests and logs; allocates above 2**30)."""
        return (self.hi << 16) | self.lo


class SampleGrid:
    """Timestamps and the IMU's sampling phase for one stream (SPEC 3.5).

    Sample k of the stream is stamped ``t0 + k * period_us`` on the sensor clock
    (hi/lo halves). The IMU samples on its own oscillator; when the firmware reads the
    FIFO it learns that the newest sample was taken at or before ``now`` and the next
    one after it. Those bounds on the (ticks) time of the next unread sample,
    ``lo < t_next <= hi``, are kept and narrowed at every read; a FIFO overflow then
    tells how many samples the reset discarded (:meth:`skip_to`).

    Parameters
    ----------
    clock
        The :class:`Clock32`.
    period_us
        Sample period (20000, 10000 or 5000).
    ticks_now
        Ticks value when the FIFO was reset and sampling into it began: the first
        sample comes within one period after it, and is stamped one period after it
        (an upper bound, so a sample is never stamped before it was taken).
    """

    def __init__(self, clock, period_us, ticks_now):
        self.clock = clock
        self.period = period_us
        hi, lo = clock.at(ticks_now)
        lo += period_us
        self.t_hi = (hi + (lo >> 16)) & _MASK16
        self.t_lo = lo & _MASK16
        self.g_lo = ticks_now
        self.g_hi = clock.ticks_add(ticks_now, period_us)
        self.reanchors = 0

    def observe(self, ticks_now, available):
        """A FIFO read at ``ticks_now`` found ``available`` unread samples: narrow the
        bounds on the time of the next unread sample. Allocation-free."""
        add = self.clock.ticks_add
        diff = self.clock.ticks_diff
        p = self.period
        lo = add(ticks_now, -available * p)
        if diff(lo, self.g_lo) > 0:
            self.g_lo = lo
        if available > 0:
            hi = add(ticks_now, -(available - 1) * p)
            if diff(hi, self.g_hi) < 0:
                self.g_hi = hi
        if diff(self.g_hi, self.g_lo) <= 0:
            # the IMU's oscillator and the clock disagree by more than the bounds
            # allow: start the bounds afresh from this observation
            self.reanchors += 1
            self.g_lo = lo
            self.g_hi = add(lo, p)

    def advance(self, n):
        """``n`` samples were consumed (packetised or counted lost). Allocation-free."""
        d = n * self.period
        lo = self.t_lo + d
        self.t_hi = (self.t_hi + (lo >> 16)) & _MASK16
        self.t_lo = lo & _MASK16
        add = self.clock.ticks_add
        self.g_lo = add(self.g_lo, d)
        self.g_hi = add(self.g_hi, d)

    def skip_to(self, ticks_now):
        """The FIFO was emptied and reset at ``ticks_now`` (overflow): every sample
        taken up to then is gone. Returns how many (advances the grid by as many);
        exact when the bounds are narrower than the distance from ``ticks_now`` to the
        nearest sample instant, else off by at most one."""
        diff = self.clock.ticks_diff
        mid = self.clock.ticks_add(self.g_lo, diff(self.g_hi, self.g_lo) // 2)
        d = diff(ticks_now, mid)
        n = d // self.period + 1 if d >= 0 else 0
        self.advance(n)
        self.observe(ticks_now, 0)
        return n
