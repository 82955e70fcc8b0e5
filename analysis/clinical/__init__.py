"""Instrumented clinical tests (quiet stance/mCTSIB, 4-stage balance, TUG, chair stands, walks).

Every test returns a result derived from :class:`analysis.clinical.base.ClinicalResult`
with a :class:`analysis.clinical.base.Validity`; see :mod:`analysis.clinical.base` for the
shared pattern and helpers.

How :func:`poise.assessments.run_test` (the CLI and the GUI) calls the tests
-------------------------------------------------------------------------------
* ``sway``: :class:`analysis.sway.SwayAnalyzer`, or :class:`stance.QuietStance` for the four
  mCTSIB conditions; ``four-stage``: :class:`four_stage.FourStageBalance`;
* ``tug``: ``tug.TimedUpAndGo(norms=norms["tug"]).analyze(acc, gyr, fs, age_y=, height_m=)``;
* ``chair-stand-30s``: ``chair.ChairStand30s(norms=...).analyze(acc, gyr, fs, age_y=, sex=)``;
* ``five-times-sts``: ``chair.FiveTimesSitToStand(norms=...).analyze(acc, gyr, fs)``;
* ``walk-2min``/``walk-6min``: ``walk.TimedWalk(minutes).analyze(acc, gyr, fs, ...)``;
* a future test module may instead expose
  ``analyze(test, acc_mps2, gyr_radps, sampling_rate_hz, *, events=None, demographics=None)
  -> ClinicalResult`` (events with ``t_s`` in seconds from the first sample).

The fall-risk summary (:func:`analysis.fallrisk.measures_from_results`) reads these keys
from the results' ``to_dict()``: TUG ``total_time_s``; chair stand ``n_stands``; 5xSTS
``time_s`` (or ``total_time_s``); walks ``distance_m``, ``speed_mps`` (or
``mean_speed_mps``) and ``stride_time_sd_s``/``_ms`` if present; 4-stage ``tandem_time_s``;
sway ``rms_mps2`` and ``ellipse_area_m2ps4``.
"""

from analysis.clinical.base import ClinicalResult, Segment, Validity

__all__ = ["ClinicalResult", "Segment", "Validity"]
