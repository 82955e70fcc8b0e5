"""Instrumented clinical tests (quiet stance/mCTSIB, 4-stage balance, TUG, chair stands, walks).

Every test is one module of this package holding its algorithm (a subclass of one of the
family bases of :mod:`analysis.clinical.registry`, with the one action
``analyze(acc_mps2, gyr_radps, *, sampling_rate_hz, context)``), its result (derived from
:class:`analysis.clinical.base.ClinicalResult`, with a
:class:`analysis.clinical.base.Validity`) and its registry entry
(:class:`analysis.clinical.registry.ClinicalTest`: protocol, measures with units, norms
and their sources, fall-risk rating, LOINC code). The command line, the assessments, the
guided protocols, progress, FHIR, the reports, the fall-risk summary and the GUI read the
registry; adding a test is adding its module. See :mod:`analysis.clinical.base` for the
shared helpers.
"""

from analysis.clinical.base import ClinicalResult, Segment, Validity

__all__ = ["ClinicalResult", "Segment", "Validity"]
