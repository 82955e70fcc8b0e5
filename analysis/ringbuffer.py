"""A preallocated 2-D ring buffer of samples, written by whole blocks (the live window).

The live sway window (:class:`analysis.sway.SlidingSway`), the streaming gait analysis
(:class:`analysis.gait.StreamingGait`) and the session's per-sensor buffers
(:class:`poise.session.Session`) keep the last ``capacity`` rows of a stream in one of these:
bounded memory, a block written with at most two slice copies (no per-sample loop), and the
rows read back in time order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RingBuffer"]


class RingBuffer:
    """A preallocated 2-D float ring buffer (rows are samples), written by whole blocks.

    Parameters
    ----------
    capacity
        Rows kept.
    n_cols
        Columns per row.
    fill
        Value of the rows not written yet (and after :meth:`clear`).

    Attributes
    ----------
    data : (capacity, n_cols) ndarray
        The storage; row ``head`` is the next one written.
    head : int
        Next row to write.
    total : int
        Rows ever written (since the last :meth:`clear`).
    """

    def __init__(self, capacity: int, n_cols: int, fill: float = np.nan) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = int(capacity)
        self.fill = fill
        self.data = np.full((self.capacity, n_cols), fill, dtype=float)
        self.head = 0
        self.total = 0

    @property
    def filled(self) -> int:
        """Rows held: the rows written, at most ``capacity``."""
        return min(self.total, self.capacity)

    def clear(self) -> None:
        """Forget everything (keeps the memory)."""
        self.data.fill(self.fill)
        self.head = 0
        self.total = 0

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (n, n_cols); if n exceeds the capacity only the last rows are kept."""
        n = rows.shape[0]
        if n == 0:
            return
        if n >= self.capacity:
            self.data[:] = rows[-self.capacity :]
            self.head = 0
        else:
            end = self.head + n
            if end <= self.capacity:
                self.data[self.head : end] = rows
            else:
                k = self.capacity - self.head
                self.data[self.head :] = rows[:k]
                self.data[: n - k] = rows[k:]
            self.head = end % self.capacity
        self.total += n

    def latest(self, n: int | None = None, *, copy: bool = True) -> np.ndarray:
        """The last ``n`` rows (all rows held when ``None``) in time order.

        A copy, unless ``copy`` is false: then rows that lie in one piece of the storage
        come as a view (valid until the next :meth:`write`), wrapped ones as a new array.
        """
        avail = self.filled
        n = avail if n is None else min(int(n), avail)
        if n <= 0:
            return self.data[:0].copy()
        start = (self.head - n) % self.capacity
        if start + n <= self.capacity:
            rows = self.data[start : start + n]
            return rows.copy() if copy else rows
        return np.concatenate([self.data[start:], self.data[: (start + n) - self.capacity]])
