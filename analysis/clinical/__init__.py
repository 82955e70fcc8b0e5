"""Instrumented clinical tests (quiet stance/mCTSIB, 4-stage balance, TUG, chair stands, walks).

Every test returns a result derived from :class:`analysis.clinical.base.ClinicalResult`
with a :class:`analysis.clinical.base.Validity`; see :mod:`analysis.clinical.base` for the
shared pattern and helpers.

Entry-point contract used by :func:`poise.assessments.run_test` (the CLI and the GUI)
------------------------------------------------------------------------------------
Each test module that ``poise.assessments`` dispatches to (``tug.py`` for ``"tug"``,
``chair.py`` for ``"chair-stand-30s"`` and ``"five-times-sts"``, ``walk.py`` for
``"walk-2min"`` and ``"walk-6min"``) exposes one function::

    analyze(test, acc_mps2, gyr_radps, sampling_rate_hz, *, events=None, demographics=None)
        -> ClinicalResult

* ``acc_mps2``/``gyr_radps``: (n, 3) sensor frame, SI units, NaN rows = gaps;
* ``events``: the recording's events (dicts with ``kind``, ``t_s`` ...) with ``t_s``
  converted to seconds **from the first sample** (``stage_start``/``stage_end`` with
  ``stage``, ``marker`` with ``marker`` = ``"lost_balance"`` ..., ``test_start``/``test_stop``);
* ``demographics``: ``{"age", "sex", "height_m", "weight_kg"}`` (any may be missing).

The fall-risk summary (:func:`analysis.fallrisk.measures_from_results`) reads these keys
from the results' ``to_dict()``: TUG ``total_time_s``; chair stand ``n_stands``; 5xSTS
``total_time_s``; walks ``distance_m``, ``mean_speed_mps`` and ``stride_time_sd_s`` (or
``stride_time_sd_ms``); 4-stage ``tandem_time_s``; sway ``rms_mps2``.
"""

from analysis.clinical.base import ClinicalResult, Segment, Validity

__all__ = ["ClinicalResult", "Segment", "Validity"]
