"""The clinical-test registry: one entry per test, read by every consumer.

A clinical test is written in one module of :mod:`analysis.clinical`: its algorithm class
(one of the family bases below, one action, one signature), its result, and one
:class:`ClinicalTest` entry passed to :func:`register` that holds everything the rest of
Poise needs to know about it:

* ``make``: the algorithm, given the normative tables (``make(norms) -> BaseClinicalTest``);
* ``protocol``: the guided protocol (instructions, stages, countdown) the GUI runs;
* ``measures``: the :class:`Measure` objects with label, unit, which way is better, decimals,
  how to read them from the result, the fall-risk rating (a :class:`Factor` against
  thresholds with their sources) where a threshold exists, the LOINC code where one exists;
* ``norms``: the normative tables with their sources, by section name;
* ``headline``: the main value, as the results page, the reports and the PDF show it.

The command line (``poise analyze --test``), the assessments (:func:`poise.assessments.run_test`),
the guided protocols (:mod:`poise.protocols`), progress, FHIR, the reports, the fall-risk
summary (:mod:`analysis.fallrisk`) and the GUI read the registry; none of them names a test.
The registry finds the entries by importing every module of :mod:`analysis.clinical` once
(:func:`tests`), so adding a test is adding its module.

Families (the gaitmap/mobgap habit: one base class per family, one action verb, one
signature)::

    result = Test(...).analyze(acc_mps2, gyr_radps, sampling_rate_hz=fs, context=ctx).result_

:class:`BalanceTest` (standing in place), :class:`TransferTest` (rising, sitting down,
turning), :class:`WalkTest` (walking). ``context`` (:class:`TestContext`) carries the
patient's data and the guided protocol's events; times are seconds from the first sample.

Besides the tests, :class:`ResultSource` entries name results that are not a guided test
but carry measures (the steady walking of a recording without a test, ``gait``).
"""

from __future__ import annotations

import copy
import importlib
import math
import numbers
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Self

import numpy as np

from analysis.clinical.base import ClinicalResult, normalise_sex, to_jsonable

__all__ = [
    "BalanceTest",
    "BaseClinicalTest",
    "ClinicalTest",
    "Demographics",
    "Factor",
    "Headline",
    "Measure",
    "Norms",
    "ResultSource",
    "Stage",
    "TestContext",
    "TestProtocol",
    "TransferTest",
    "WalkTest",
    "factor_measures",
    "finite",
    "first_value",
    "get_test",
    "graded_factor",
    "measures",
    "norms_sections",
    "normalise_sex",
    "progress_measures",
    "register",
    "result_source",
    "test_keys",
    "tests",
    "threshold_factor",
]

#: Patient data: ``age`` (years), ``sex`` (``"f"``/``"m"``), ``height_m``, ``weight_kg``,
#: ``sensor_height_m``, ``falls_past_year``; any may be missing.
Demographics = Mapping[str, Any]
#: The normative tables, section name -> table (every table names its source).
Norms = Mapping[str, Any]


def first_value(result: Mapping[str, Any], *keys: str) -> Any:
    """The first of ``keys`` the result holds a value for (``None`` if none)."""
    for k in keys:
        v = result.get(k)
        if v is not None:
            return v
    return None


# --------------------------------------------------------------------------- protocols


@dataclass(frozen=True)
class Stage:
    """One timed part of a guided test.

    Parameters
    ----------
    key
        Short machine name, e.g. ``"tandem"`` (the ``stage_start`` events carry it).
    title
        What the screen shows, e.g. ``"Tandem stance"``.
    instructions
        One or two sentences for the patient.
    duration_s
        Fixed duration; the stage stops by itself. ``None`` means open-ended: the therapist
        stops it (or ``max_duration_s`` does).
    max_duration_s
        Safety limit for open-ended stages.
    """

    key: str
    title: str
    instructions: str
    duration_s: float | None = None
    max_duration_s: float = 120.0

    @property
    def limit_s(self) -> float:
        """Time after which the stage ends by itself."""
        return float(self.duration_s if self.duration_s is not None else self.max_duration_s)


@dataclass(frozen=True)
class TestProtocol:
    """A guided test: instructions, stages and how the run behaves.

    Parameters
    ----------
    key, title
        The test's key and the name the therapist knows (filled in from the registry
        entry).
    patient_instructions, therapist_instructions
        Shown on the instructions page.
    stages
        The stages in order.
    countdown_s
        Countdown before each stage (seconds; a cue sounds at each second and at the start).
    stop_on_loss_of_balance
        A "lost balance" marker ends the test (STEADI 4-stage: stop at the first failure).
    source
        Where the procedure comes from.
    quiet_stance
        The patient stands still (the clock says "Hold", and the GUI asks before starting
        while the patient walks).
    """

    __test__ = False  # not a pytest class

    key: str = ""
    title: str = ""
    patient_instructions: str = ""
    therapist_instructions: str = ""
    stages: tuple[Stage, ...] = ()
    countdown_s: float = 3.0
    stop_on_loss_of_balance: bool = False
    source: str = ""
    quiet_stance: bool = False

    @property
    def nominal_duration_s(self) -> float:
        """Sum of countdowns and stage limits."""
        return sum(self.countdown_s + s.limit_s for s in self.stages)

    def with_timing(
        self, *, countdown_s: float | None = None, stage_s: float | None = None
    ) -> TestProtocol:
        """Copy with another countdown or fixed stage duration (short demos and tests)."""
        stages = self.stages
        if stage_s is not None:
            stages = tuple(replace(s, duration_s=stage_s) for s in stages)
        countdown = self.countdown_s if countdown_s is None else countdown_s
        return replace(self, stages=stages, countdown_s=countdown)


# --------------------------------------------------------------------------- the tests


@dataclass(frozen=True)
class TestContext:
    """What a test may know besides the signals: the patient and the protocol's events.

    Parameters
    ----------
    demographics
        :data:`Demographics` (norms, step length).
    events
        The guided run's events (``stage_start``/``stage_end`` with ``stage``, ``marker``
        with ``marker``...), ``t_s`` in seconds from the first sample, in time order.
    """

    __test__ = False  # not a pytest class

    demographics: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[Mapping[str, Any]] = ()

    def _number(self, key: str) -> float | None:
        v = self.demographics.get(key)
        return None if v is None else float(v)

    @property
    def age_y(self) -> float | None:
        """Age in years."""
        return self._number("age")

    @property
    def sex(self) -> str | None:
        """``"f"``/``"m"`` or ``None``."""
        return normalise_sex(self.demographics.get("sex"))

    @property
    def height_m(self) -> float | None:
        """Body height (m)."""
        return self._number("height_m")

    @property
    def weight_kg(self) -> float | None:
        """Body weight (kg)."""
        return self._number("weight_kg")

    @property
    def sensor_height_m(self) -> float | None:
        """Height of the lower-back sensor above the ground (m)."""
        return self._number("sensor_height_m")

    def stages(self) -> tuple[list[str], list[float], list[float | None]]:
        """``(keys, starts_s, ends_s)`` of the stages in the events (``None``: not ended)."""
        keys: list[str] = []
        starts: list[float] = []
        ends: list[float | None] = []
        for e in self.events:
            if e.get("kind") == "stage_start" and e.get("stage"):
                keys.append(str(e["stage"]))
                starts.append(float(e["t_s"]))
                ends.append(None)
            elif e.get("kind") == "stage_end" and keys and e.get("stage") == keys[-1]:
                ends[-1] = float(e["t_s"])
        return keys, starts, ends

    def markers_s(self, kinds: Sequence[str]) -> list[float]:
        """Times of the therapist's markers of these kinds."""
        return [
            float(e["t_s"])
            for e in self.events
            if e.get("kind") == "marker" and e.get("marker") in kinds
        ]


class BaseClinicalTest(ABC):
    """Base of every clinical test: one action, :meth:`analyze`, one signature.

    ``__init__`` only stores parameters; :meth:`analyze` takes the lower-back sensor's
    signals (``(n, 3)`` acceleration in m/s^2 and angular velocity in rad/s, sensor
    frame, NaN rows where samples are missing), sets ``result_`` (a
    :class:`analysis.clinical.base.ClinicalResult` with a validity) and returns ``self``.
    A test implements :meth:`_run`, which :meth:`analyze` calls with the context (an empty
    one when none is given).
    """

    result_: ClinicalResult

    def analyze(
        self,
        acc_mps2: np.ndarray,
        gyr_radps: np.ndarray | None,
        *,
        sampling_rate_hz: float,
        context: TestContext | None = None,
    ) -> Self:
        """Analyse one run of the test; returns ``self`` (result in ``result_``).

        ``context``: the patient's data and the guided run's events (what a test reads from
        it is in its ``_run``).
        """
        self._run(acc_mps2, gyr_radps, sampling_rate_hz, context or TestContext())
        return self

    @abstractmethod
    def _run(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float, ctx: TestContext) -> None:
        """Analyse one run: set ``result_``."""


class BalanceTest(BaseClinicalTest):
    """Family of the tests of standing in place (quiet stance, 4-stage, single-leg stance)."""


class TransferTest(BaseClinicalTest):
    """Family of the tests of rising, sitting down and turning (TUG, chair stands, turns)."""


class WalkTest(BaseClinicalTest):
    """Family of the walking tests (timed walks, the 10-metre walk)."""


# --------------------------------------------------------------------------- fall-risk factors


@dataclass
class Factor:
    """One fall-risk factor as shown to the clinician."""

    key: str
    label: str
    value: float | None
    unit: str
    status: str
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    test: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "key": self.key,
            "label": self.label,
            "value": to_jsonable(self.value),
            "unit": self.unit,
            "status": self.status,
            "thresholds": to_jsonable(self.thresholds),
            "source": self.source,
            "test": self.test,
            "note": self.note,
        }


def graded_factor(
    what: tuple[str, str, str],
    v: float | None,
    comparison: str,
    elevated: tuple[float, str],
    at_risk: tuple[float, str],
    source: str,
    note: str = "",
) -> Factor:
    """A factor with two thresholds: ``at_risk`` beyond the second, ``elevated`` beyond the
    first, else ``normal``; ``comparison`` is ``">="`` (higher is worse) or ``"<"``.
    ``what`` is (key, label, unit)."""
    key, label, unit = what
    worse = (lambda x, t: x >= t) if comparison == ">=" else (lambda x, t: x < t)
    status = "normal"
    if v is not None and worse(v, at_risk[0]):
        status = "at_risk"
    elif v is not None and worse(v, elevated[0]):
        status = "elevated"
    thresholds = [
        {"value": t, "comparison": comparison, "status": st, "source": src}
        for st, (t, src) in (("elevated", elevated), ("at_risk", at_risk))
    ]
    return Factor(key, label, v, unit, status, thresholds, source, note=note)


def threshold_factor(
    what: tuple[str, str, str],
    v: float | None,
    comparison: str,
    threshold: float,
    source: str,
    note: str = "",
    **extra: Any,
) -> Factor:
    """A factor with one ``at_risk`` threshold (``">="``: at or above it is at risk; ``"<"``:
    below it); ``extra`` goes into the threshold (e.g. the ``norm`` it comes from)."""
    key, label, unit = what
    risky = v is not None and (v >= threshold if comparison == ">=" else v < threshold)
    thr = {"value": threshold, "comparison": comparison, "status": "at_risk", "source": source}
    return Factor(
        key, label, v, unit, "at_risk" if risky else "normal", [{**thr, **extra}], source, note=note
    )


#: ``rate(value, demographics, norms) -> Factor``: a measure rated against its thresholds.
Rating = Callable[[float | None, Demographics, Norms], Factor]


# --------------------------------------------------------------------------- measures


@dataclass(frozen=True)
class Measure:
    """One number a test reports that the rest of Poise knows by name.

    Parameters
    ----------
    key
        The measure's name everywhere (progress, FHIR, fall risk), units in the name
        (``"tug_time_s"``). Tests that measure the same thing share the object.
    label, unit, better, decimals
        How people read it: ``better`` is ``"higher"`` or ``"lower"``.
    result_keys
        Where the result holds it (the first of them with a value).
    extract
        Reads it from a result when ``result_keys`` are not enough.
    rate
        The fall-risk rating (thresholds with their sources); ``None``: not a factor.
    factor_rank, progress_rank
        Its place in the fall-risk summary and among the progress metrics (``None``: not
        one of them).
    test
        The test it comes from, as the FHIR method says (default: the entry's key).
    loinc
        ``(code, display)`` of a LOINC term that means this measure, where one exists.
    ucum
        The UCUM code of its unit (FHIR ``valueQuantity.code``).
    references
        ``references(demographics, norms) -> [{"value", "label"}]``: reference lines of
        the progress plot (an age norm, a predicted distance).
    band_note
        Show the factor's note under the progress plot's band.
    """

    key: str
    label: str
    unit: str
    better: str = "higher"
    decimals: int = 2
    result_keys: tuple[str, ...] = ()
    extract: Callable[[Mapping[str, Any]], Any] | None = None
    rate: Rating | None = None
    factor_rank: int | None = None
    progress_rank: int | None = None
    test: str = ""
    loinc: tuple[str, str] | None = None
    ucum: str = ""
    references: Callable[[Demographics, Norms], list[dict[str, Any]]] | None = None
    band_note: bool = True

    def value(self, result: Mapping[str, Any]) -> Any:
        """The measure's value in a result dict (``None`` when it holds none)."""
        if self.extract is not None:
            return self.extract(result)
        return first_value(result, *self.result_keys)


@dataclass(frozen=True)
class Headline:
    """The main value of a test: ``key`` of its result with ``unit`` and ``decimals``;
    ``text(formatted, result) -> str`` words it (``"95 % ellipse area 0.0031 m²/s⁴"``)."""

    key: str
    unit: str
    decimals: int
    text: Callable[[str, Mapping[str, Any]], str] | None = None


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class ResultSource:
    """A name results are stored under, and the measures they carry.

    Parameters
    ----------
    key
        The result's name (``"gait"``); ``aliases`` are other names for it.
    measures
        The measures read from such a result.
    norms
        Normative tables this entry brings, section name -> table.
    view
        ``view(result) -> dict`` the measures and their validity are read from (default:
        the result itself).
    """

    key: str
    measures: tuple[Measure, ...] = ()
    aliases: tuple[str, ...] = ()
    norms: Mapping[str, Any] = field(default_factory=dict)
    view: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None

    def viewed(self, result: Mapping[str, Any]) -> Mapping[str, Any]:
        """The dict this entry's measures are read from."""
        return result if self.view is None else self.view(result)


@dataclass(frozen=True)
class ClinicalTest(ResultSource):
    """The registry entry of a clinical test (see the module docstring).

    Parameters
    ----------
    title
        The name the therapist knows.
    rank
        Place in lists (the GUI's list of tests, the command line's choices).
    make
        ``make(norms) -> BaseClinicalTest``: the algorithm with its parameters.
    protocol
        The guided protocol (its ``key`` and ``title`` are filled in from this entry).
    headline
        The main value (``None``: the results page shows the measures only).
    needs_gyroscope
        The analysis needs angular velocity.
    walking
        A walking test: its walking gives the gait-speed factor (the walks inside a TUG or
        between chair rises never do).
    """

    __test__ = False  # not a pytest class

    title: str = ""
    rank: int = 100
    make: Callable[[Norms], BaseClinicalTest] | None = None
    protocol: TestProtocol = field(default_factory=TestProtocol)
    headline: Headline | None = None
    needs_gyroscope: bool = True
    walking: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "protocol", replace(self.protocol, key=self.key, title=self.title))

    def analyzer(self, norms: Norms) -> BaseClinicalTest:
        """The test's algorithm for these normative tables."""
        if self.make is None:
            raise ValueError(f"the {self.key} test has no algorithm")
        return self.make(norms)


_ENTRIES: dict[str, ResultSource] = {}
_LOADED = False


def register(entry: ResultSource) -> ResultSource:
    """Add an entry (a test module calls this when it is imported). Its measures take the
    entry's key as their ``test`` unless they name one. A second entry with the same key
    replaces the first."""
    ms = tuple(m if m.test else replace(m, test=entry.key) for m in entry.measures)
    entry = replace(entry, measures=ms)
    _ENTRIES[entry.key] = entry
    return entry


def _load() -> None:
    """Import every module of :mod:`analysis.clinical` once: each registers its entries."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import analysis.clinical as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def tests() -> list[ClinicalTest]:
    """Every clinical test, in list order (``rank``)."""
    _load()
    found = [e for e in _ENTRIES.values() if isinstance(e, ClinicalTest)]
    return sorted(found, key=lambda t: (t.rank, t.key))


def test_keys() -> tuple[str, ...]:
    """The keys of every clinical test, in list order."""
    return tuple(t.key for t in tests())


def get_test(key: str) -> ClinicalTest:
    """The test with this key (``KeyError`` naming the known ones)."""
    _load()
    entry = _ENTRIES.get(key)
    if not isinstance(entry, ClinicalTest):
        raise KeyError(f"unknown test {key!r}; known: {', '.join(test_keys())}")
    return entry


def result_source(name: str) -> ResultSource | None:
    """The entry results named ``name`` come from (a test, a source, or an alias)."""
    _load()
    if name in _ENTRIES:
        return _ENTRIES[name]
    return next((e for e in _ENTRIES.values() if name in e.aliases), None)


def measures() -> list[Measure]:
    """Every measure once (tests sharing one give it once), in registry order."""
    _load()
    out: dict[str, Measure] = {}
    for e in sorted(_ENTRIES.values(), key=lambda x: getattr(x, "rank", 1000)):
        for m in e.measures:
            out.setdefault(m.key, m)
    return list(out.values())


def factor_measures() -> list[Measure]:
    """The measures that are fall-risk factors, in the summary's order."""
    return sorted((m for m in measures() if m.rate is not None), key=lambda m: m.factor_rank or 0)


def progress_measures() -> list[Measure]:
    """The measures followed over sessions, in the progress order."""
    found = [m for m in measures() if m.progress_rank is not None]
    return sorted(found, key=lambda m: m.progress_rank or 0)


def norms_sections() -> dict[str, Any]:
    """Every entry's normative tables, section name -> table (a fresh copy)."""
    _load()
    out: dict[str, Any] = {}
    for e in _ENTRIES.values():
        for name, table in e.norms.items():
            out[name] = copy.deepcopy(dict(table))
    return out


def finite(v: object) -> float | None:
    """``v`` as a finite float, else ``None``."""
    if not isinstance(v, numbers.Real | str):
        return None
    try:
        f = float(v)
    except ValueError:
        return None
    return f if math.isfinite(f) else None
