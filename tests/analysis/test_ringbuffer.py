"""The ring buffer of the live windows (sway, streaming gait, the session's sensors)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.ringbuffer import RingBuffer


def test_ring_buffer_keeps_the_newest_rows_in_order_across_wraps() -> None:
    rb = RingBuffer(10, 2)
    rng = np.random.default_rng(1)
    written: list[float] = []
    for _ in range(40):
        n = int(rng.integers(0, 14))
        rows = np.column_stack([np.arange(len(written), len(written) + n)] * 2).astype(float)
        written.extend(rows[:, 0])
        rb.write(rows)
        expect = np.array(written[-10:])
        np.testing.assert_array_equal(rb.latest()[:, 0], expect)
        np.testing.assert_array_equal(rb.latest(copy=False)[:, 0], expect)
        k = int(rng.integers(0, 12))
        np.testing.assert_array_equal(rb.latest(k)[:, 0], expect[-k:] if k else expect[:0])
        assert rb.filled == len(expect)
    assert rb.total == len(written)


def test_latest_is_a_copy_unless_asked_for_a_view() -> None:
    rb = RingBuffer(8, 1, fill=0.0)
    rb.write(np.arange(5.0).reshape(-1, 1))
    rb.latest()[:] = -1.0
    np.testing.assert_array_equal(rb.latest()[:, 0], np.arange(5.0))
    view = rb.latest(copy=False)
    assert np.shares_memory(view, rb.data)
    rb.write(np.arange(5.0, 10.0).reshape(-1, 1))  # wraps: the rows come as a new array
    wrapped = rb.latest(copy=False)
    assert not np.shares_memory(wrapped, rb.data)
    np.testing.assert_array_equal(wrapped[:, 0], np.arange(2.0, 10.0))


def test_clear_forgets_the_rows_and_refills() -> None:
    rb = RingBuffer(4, 3, fill=0.0)
    rb.write(np.ones((6, 3)))
    rb.clear()
    assert rb.total == rb.filled == rb.head == 0
    assert rb.latest().shape == (0, 3)
    assert not rb.data.any()


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(0, 3)
