"""analysis.dsp gives scipy's numbers without importing scipy.signal.

Every filter the project designs (gait, transitions, orientation, sway, the live trail) is
compared with ``scipy.signal`` on random and random-walk signals: the designs must be equal,
the filtered signals and states bit for bit equal (the same compiled loop), peaks the same
indices; the moving mean and the FFT convolution equal to rounding.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage, signal

from analysis import dsp

# (order, cutoff Hz, btype, fs Hz): the designs used in analysis/ and poise/live.py, at the
# rates the sensors stream at, and a few more
DESIGNS = [
    (4, (0.5, 3.0), "bandpass", 100.0),  # gait contacts, bouts, periodicity
    (4, (0.3, 8.0), "bandpass", 200.0),
    (4, 0.1, "highpass", 100.0),  # gait vertical displacement
    (4, 1.0, "highpass", 200.0),
    (4, 0.5, "lowpass", 100.0),  # turns
    (4, 20.0, "lowpass", 50.0),  # gait's low-pass before decimation
    (4, 3.5, "lowpass", 100.0),  # sway
    (4, (0.15, 3.5), "bandpass", 100.0),
    (2, 0.7, "lowpass", 200.0),  # transitions
    (2, 0.05, "highpass", 200.0),
    (2, (0.05, 1.0), "bandpass", 100.0),
    (2, (0.8, 2.5), "bandpass", 50.0),  # orientation step band
    (2, 1.5, "lowpass", 200.0),  # live sway trail
    (6, (1.0, 10.0), "bandpass", 100.0),
]


def _signal(n: int, m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.standard_normal((n, m)), axis=0) * 0.05 + rng.standard_normal((n, m))


@pytest.mark.parametrize("order,cutoff,btype,fs", DESIGNS)
def test_butter_equals_scipy(order, cutoff, btype, fs):
    ours = dsp.butter(order, cutoff, btype, fs)
    ref = signal.butter(order, cutoff, btype=btype, fs=fs, output="sos")
    np.testing.assert_allclose(ours, ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dsp.sosfilt_zi(ours), signal.sosfilt_zi(ref), rtol=1e-12)


@pytest.mark.parametrize("order,cutoff,btype,fs", DESIGNS)
def test_filters_equal_scipy(order, cutoff, btype, fs):
    sos = dsp.butter(order, cutoff, btype, fs)
    ref_sos = np.array(sos)  # the same coefficients: the loop is compared, not the design
    x = _signal(3001, 3, seed=order)
    zi = dsp.sosfilt_zi(sos)[:, :, None] * x[:1][None]
    y, zf = dsp.sosfilt(sos, x, axis=0, zi=zi)
    y_ref, zf_ref = signal.sosfilt(ref_sos, x, axis=0, zi=zi)
    assert np.array_equal(y, y_ref) and np.array_equal(zf, zf_ref)
    assert np.array_equal(dsp.sosfilt(sos, x[:, 0]), signal.sosfilt(ref_sos, x[:, 0]))
    # the general path (any axis of any shape) as well as the 1-D and (n, m) fast paths
    x3 = np.stack([x, 2 * x], axis=2)  # (n, 3, 2), samples along axis 0
    z3 = dsp.sosfilt_zi(sos)[:, :, None, None] * x3[:1][None]
    y3, zf3 = dsp.sosfilt(sos, x3, axis=0, zi=z3)
    y3_ref, zf3_ref = signal.sosfilt(ref_sos, x3, axis=0, zi=z3)
    assert np.array_equal(y3, y3_ref) and np.array_equal(zf3, zf3_ref)
    assert np.array_equal(dsp.sosfilt(sos, x.T, axis=1), signal.sosfilt(ref_sos, x.T, axis=1))
    # a stream cut into blocks gives the whole signal's output
    z = dsp.sosfilt_zi(sos) * x[0, 0]
    parts = []
    for a in range(0, 3001, 250):
        part, z = dsp.sosfilt(sos, x[a : a + 250, 0], zi=z)
        parts.append(part)
    whole, _ = signal.sosfilt(ref_sos, x[:, 0], zi=dsp.sosfilt_zi(sos) * x[0, 0])
    assert np.array_equal(np.concatenate(parts), whole)
    assert np.array_equal(dsp.sosfiltfilt(sos, x, axis=0), signal.sosfiltfilt(ref_sos, x, axis=0))
    assert np.array_equal(
        dsp.sosfiltfilt(sos, x[:, 1], padlen=40), signal.sosfiltfilt(ref_sos, x[:, 1], padlen=40)
    )


def test_lfilter_equals_scipy():
    alpha = 0.995
    b, a = [1.0], [1.0, -alpha]
    x = _signal(2000, 3, seed=7)
    assert np.array_equal(dsp.lfilter_zi(b, a), signal.lfilter_zi(b, a))
    zi = np.array([[0.1, -0.2, 0.3]])
    y, zf = dsp.lfilter(b, a, x, axis=0, zi=zi)
    y_ref, zf_ref = signal.lfilter(b, a, x, axis=0, zi=zi)
    assert np.array_equal(y, y_ref) and np.array_equal(zf, zf_ref) and zf.shape == (1, 3)
    y, zf = dsp.lfilter([1 - alpha], a, x[:, 0], zi=np.array([0.4]))
    y_ref, zf_ref = signal.lfilter([1 - alpha], a, x[:, 0], zi=np.array([0.4]))
    assert np.array_equal(y, y_ref) and np.array_equal(zf, zf_ref)
    b2, a2 = [0.2, 0.3, 0.1], [1.0, -1.2, 0.5]
    # second order: the same recursion, its additions in another order (the project's
    # lfilter calls are all first order, bit for bit above)
    np.testing.assert_allclose(
        dsp.lfilter(b2, a2, x[:, 1]), signal.lfilter(b2, a2, x[:, 1]), rtol=1e-12, atol=1e-13
    )
    with pytest.raises(ValueError, match="order 1 or 2"):
        dsp.lfilter([1.0, 0, 0, 0], [1.0], x[:, 0])


def test_design_errors_say_what():
    with pytest.raises(ValueError, match="between 0 and fs/2"):
        dsp.butter(2, 60.0, "lowpass", 100.0)
    with pytest.raises(ValueError, match="low, high"):
        dsp.butter(2, (3.0, 1.0), "bandpass", 100.0)
    with pytest.raises(NotImplementedError, match="real pole"):
        dsp.butter(3, 5.0, "lowpass", 100.0)


@pytest.mark.parametrize("seed", range(12))
def test_find_peaks_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(400), 1)  # rounded: many flat tops of 2, 3, 4 samples
    x[rng.integers(0, 400, 5)] = np.nan
    h = float(rng.uniform(-1, 1))
    assert np.array_equal(dsp.find_peaks(x, height=h), signal.find_peaks(x, height=h)[0])
    assert np.array_equal(dsp.find_peaks(x), signal.find_peaks(x)[0])
    assert dsp.find_peaks(np.array([1.0, 2.0])).size == 0


@pytest.mark.parametrize("size", [1, 2, 3, 10, 101, 250])
def test_uniform_filter1d_equals_scipy(size):
    x = _signal(3000, 3, seed=size) + 9.81
    ref = ndimage.uniform_filter1d(x, size, axis=0, mode="nearest")
    np.testing.assert_allclose(dsp.uniform_filter1d(x, size, axis=0), ref, rtol=0, atol=1e-12)
    ref1 = ndimage.uniform_filter1d(x[:, 0], size, mode="nearest")
    np.testing.assert_allclose(dsp.uniform_filter1d(x[:, 0], size), ref1, rtol=0, atol=1e-12)


def test_uniform_filter1d_stays_in_the_range_of_its_values():
    """A moving mean of squares is never negative (its square root would be NaN)."""
    rng = np.random.default_rng(5)
    x = np.r_[rng.normal(0, 30, 2000), np.zeros(3000), rng.normal(0, 1e-9, 50)] ** 2
    m = dsp.uniform_filter1d(x, 200)
    assert m.min() >= 0.0 and np.isfinite(np.sqrt(m)).all()


def test_convolve_valid_equals_scipy():
    rng = np.random.default_rng(3)
    x, k = rng.standard_normal(5000), rng.standard_normal(301)
    np.testing.assert_allclose(
        dsp.convolve_valid(x, k), signal.oaconvolve(x, k, mode="valid"), rtol=0, atol=1e-11
    )
    np.testing.assert_allclose(
        dsp.convolve_valid(k, x), signal.oaconvolve(k, x, mode="valid"), rtol=0, atol=1e-11
    )


def test_compiled_loop_is_used_and_scipy_signal_is_not_imported():
    """The fast path is taken with the installed scipy (not the public fallback), and the
    gait, transitions and orientation analyses import no scipy.signal or scipy.ndimage."""
    code = (
        "import sys, numpy as np\n"
        "import analysis.gait, analysis.transitions, analysis.orientation, analysis.dsp as d\n"
        "d.sosfilt(d.butter(2, 1.0, 'lowpass', 100.0), np.ones(10))\n"
        "assert d._SOSFILT, 'compiled sosfilt not loaded'\n"
        "bad = [m for m in ('scipy.signal', 'scipy.ndimage', 'scipy.stats') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
