"""Instrumented clinical tests (quiet stance/mCTSIB, 4-stage balance, TUG, chair stands, walks).

Every test returns a result derived from :class:`analysis.clinical.base.ClinicalResult`
with a :class:`analysis.clinical.base.Validity`; see :mod:`analysis.clinical.base` for the
shared pattern and helpers.
"""

from analysis.clinical.base import ClinicalResult, Segment, Validity

__all__ = ["ClinicalResult", "Segment", "Validity"]
