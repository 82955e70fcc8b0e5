"""Run the instrumented tests and the fall-risk summary on a recording (CLI and GUI glue).

* :func:`run_test` ``(recording, test, demographics) -> dict``: one test's result, JSON-ready
  (units in the key names, ``validity`` always present). The tests are the entries of the
  clinical-test registry (:mod:`analysis.clinical.registry`): the entry's algorithm gets the
  run's signals, the patient's data and the run's events.
* :func:`session_fall_risk` ``(recording, demographics, results) -> dict``: the fall-risk
  factors of a session, factor by factor (:mod:`analysis.fallrisk`). It is the one place
  that decides them: the Results page, the stored session (Sessions table, Progress), the
  PDF, FHIR and ``poise analyze --fall-risk`` all call it. The factors come from the
  session's tests (:func:`session_results`: stored ``test_result`` events, runs without a
  stored result computed now, a one-test recording named in ``metadata["test"]``); gait
  speed and stride-time variability only from a walking test, or, in a recording without
  any test (a walk, a home session), from its steady walking: valid strides of bouts with a
  stride regularity of at least 0.5 (not chair rises) that do not overlap a turn; at least
  5 strides for the speed, per-bout SD on bouts with at least 10 such strides for the
  variability. The walks inside a TUG or a chair test are never the gait-speed factor.
* :func:`recording_patient`: the patient a recording belongs to and the demographics used
  (header, or the latest ``patient`` event).
* :func:`load_norms`: the normative tables, every registry entry's sections with their
  sources (:func:`analysis.fallrisk.default_norms`).

The sensor used is the one placed on the lower back (:func:`sensors.placements.is_lower_back`:
``lower-back`` in any spelling Poise knows), or the only sensor. Times in the results are seconds from that sensor's
first sample; ``time_origin_s`` gives that sample's time in the recording.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.clinical import registry
from analysis.clinical.base import NOT_DETECTED, Validity
from analysis.clinical.registry import TestContext
from analysis.fallrisk import FallRiskAssessor, default_norms, measures_from_results
from poise.errors import PoiseError
from sensors.placements import is_lower_back

__all__ = [
    "TESTS",
    "load_norms",
    "pick_sensor",
    "recording_patient",
    "run_test",
    "session_fall_risk",
    "session_results",
    "stored_results",
]

#: The clinical tests' keys, in list order (from the registry).
TESTS = registry.test_keys()


def load_norms() -> dict[str, Any]:
    """The normative tables (a fresh copy): every registry entry's, with their sources."""
    return default_norms()


def pick_sensor(recording: Any) -> Any:
    """The lower-back sensor of a recording, or its only sensor."""
    sensors = list(getattr(recording, "sensors", None) or [])
    if not sensors:
        raise PoiseError("the recording holds no sensor data")
    back = [s for s in sensors if is_lower_back(getattr(s, "placement", None))]
    if back:
        return back[0]
    if len(sensors) == 1:
        return sensors[0]
    places = ", ".join(f"{s.id}: {s.placement or 'unknown'}" for s in sensors)
    raise PoiseError(
        f"no sensor is placed on the lower back and there are {len(sensors)} sensors ({places}); "
        "the analyses need the lower-back (L5) sensor"
    )


def _arrays(sensor: Any) -> tuple[np.ndarray, np.ndarray | None, float, float]:
    acc = np.asarray(sensor.acc_mps2, dtype=float)
    gyr = None if sensor.gyr_radps is None else np.asarray(sensor.gyr_radps, dtype=float)
    fs = float(sensor.config.sampling_rate_hz)
    t = np.asarray(sensor.t_s, dtype=float)
    if acc.ndim != 2 or acc.shape[0] == 0:
        raise PoiseError(f"sensor {sensor.id} has no samples")
    t0 = float(t[0]) if t.size else 0.0
    return acc, gyr, fs, t0


def _relative_events(events: list[dict], t0: float) -> list[dict]:
    out = []
    for e in events or []:
        if not isinstance(e, dict) or e.get("t_s") is None:
            continue
        try:
            t = float(e["t_s"]) - t0
        except (TypeError, ValueError):
            continue
        out.append({**e, "t_s": t})
    return sorted(out, key=lambda e: e["t_s"])


def _run_events(events: list[dict], test: str) -> list[dict]:
    """Events of the last run of ``test`` (from its test_start to its test_stop)."""
    starts = [
        i for i, e in enumerate(events) if e.get("kind") == "test_start" and e.get("test") == test
    ]
    if not starts:
        return events
    i0 = starts[-1]
    out = []
    for e in events[i0:]:
        out.append(e)
        if e.get("kind") == "test_stop":
            break
    return out


#: Data kept after a run's stop (s): the therapist stops a TUG or a 5xSTS the moment the
#: patient is seated, and a stand-to-sit is only found with some data after it.
POST_RUN_MARGIN_S = 2.0


def _run_window(events: list[dict], test: str) -> tuple[float, float] | None:
    """(start, stop) of the run in ``events`` (from :func:`_run_events`), None without one.

    The stop is the ``test_stop`` event's time (the session writes it at the run's end) plus
    :data:`POST_RUN_MARGIN_S`; an unfinished run goes on to the end of the recording.
    """
    start = next(
        (e for e in events if e.get("kind") == "test_start" and e.get("test") == test), None
    )
    if start is None:
        return None
    stop = next((e for e in events if e.get("kind") == "test_stop"), None)
    t1 = np.inf if stop is None else float(stop["t_s"]) + POST_RUN_MARGIN_S
    return float(start["t_s"]), t1


#: The patient data the analyses use (norms, step length).
_DEMOGRAPHIC_KEYS = ("age", "sex", "height_m", "weight_kg", "sensor_height_m", "falls_past_year")


def recording_patient(recording: Any) -> dict[str, Any]:
    """Whose session a recording holds, and the patient data its analyses used.

    Returns ``{"pseudonym": str | None, "anonymous": bool, "demographics": dict}``: the
    header's ``patient`` (a pseudonym, or a dict with ``pseudonym``), ``anonymous`` and
    ``demographics``, replaced by the latest ``patient`` event (the therapist chose the
    patient after the recording had started). A recording without any of them (older
    files, the CLI's) gives ``pseudonym`` ``None`` and the header's demographics, as before.
    """
    meta = getattr(recording, "metadata", None) or {}
    meta = meta if isinstance(meta, dict) else {}
    named = meta.get("patient")
    if isinstance(named, dict):
        named = named.get("pseudonym") or named.get("id")
    out: dict[str, Any] = {
        "pseudonym": str(named) if named else None,
        "anonymous": bool(meta.get("anonymous", False)),
        "demographics": dict(meta.get("demographics") or {})
        if isinstance(meta.get("demographics"), dict)
        else {},
    }
    for e in getattr(recording, "events", None) or []:
        if isinstance(e, dict) and e.get("kind") == "patient":
            demo = e.get("demographics")
            out = {
                "pseudonym": str(e["patient"]) if e.get("patient") else None,
                "anonymous": bool(e.get("anonymous", False)),
                "demographics": dict(demo) if isinstance(demo, dict) else {},
            }
    return out


def _demographics(recording: Any, demographics: dict | None) -> dict[str, Any]:
    base = recording_patient(recording)["demographics"] if recording is not None else {}
    base = {k: v for k, v in base.items() if v is not None}
    base.update({k: v for k, v in (demographics or {}).items() if v is not None})
    if "age" not in base and "age_y" in base:  # the scenario recordings' spelling
        base["age"] = base["age_y"]
    return base


# --------------------------------------------------------------------------- tests


def _analyze(test, acc, gyr, fs, events, demographics) -> dict[str, Any]:
    """The registry entry's algorithm on one run."""
    entry = registry.get_test(test)
    if entry.needs_gyroscope and gyr is None:
        raise PoiseError(f"the {test} analysis needs the gyroscope, and this sensor has none")
    context = TestContext(demographics=demographics, events=events)
    res = entry.analyzer(load_norms()).analyze(acc, gyr, sampling_rate_hz=fs, context=context)
    out = res.result_
    return out.to_dict()


def run_test(recording: Any, test: str, demographics: dict | None = None) -> dict[str, Any]:
    """Analyse one instrumented test in ``recording``; returns a JSON-ready dict.

    Raises
    ------
    PoiseError
        Unknown test, no usable sensor, or the test's analysis is not available.
    """
    name = str(test).strip().lower()
    if name not in TESTS:
        raise PoiseError(f"unknown test {test!r}; choose one of {', '.join(TESTS)}")
    sensor = pick_sensor(recording)
    acc, gyr, fs, t0 = _arrays(sensor)
    demo = _demographics(recording, demographics)
    events = _run_events(_relative_events(getattr(recording, "events", None) or [], t0), name)
    window = _run_window(events, name)
    if window is not None:
        # a session recording holds other tests too: analyse this run only, as the session
        # does when the test ends (its test_start to its test_stop)
        t = np.asarray(sensor.t_s, dtype=float)
        i0 = int(np.searchsorted(t, t0 + window[0], side="left"))
        i1 = int(np.searchsorted(t, t0 + window[1], side="right"))
        if i1 - i0 < 2:
            raise PoiseError(
                f"the {name} run at {t0 + window[0]:.1f}-{t0 + window[1]:.1f} s holds no samples "
                f"of sensor {sensor.id}"
            )
        shift = float(t[i0]) - t0
        acc = acc[i0:i1]
        gyr = None if gyr is None else gyr[i0:i1]
        t0 += shift
        events = [{**e, "t_s": e["t_s"] - shift} for e in events]
    out = _analyze(name, acc, gyr, fs, events, demo)
    out["test"] = name
    out.setdefault("validity", Validity.ok().to_dict())
    out["sensor"] = str(sensor.id)
    out["time_origin_s"] = t0
    return out


# --------------------------------------------------------------------------- fall risk


#: a bout counts as steady walking from this stride regularity (autocorrelation at the stride
#: lag, Moe-Nilssen & Helbostad 2004); turns, transitions and shuffling lower it
STEADY_STRIDE_REGULARITY = 0.5
MIN_STRIDES_SPEED = 5
#: Free walking too slow or irregular to measure, beyond which the measured gait speed would
#: speak only for the patient's faster walking: at least this many seconds of it ...
UNMEASURED_WALKING_MIN_S = 10.0
#: ... and at least this share of all the walking-like movement.
UNMEASURED_WALKING_SHARE = 0.25
MIN_STRIDES_VARIABILITY = 10
#: the factor's ``test`` (and the stored result's name) when gait speed and stride-time
#: variability come from the steady walking of a recording that holds no clinical test
WALKING_SOURCE = "gait"


def usable_result(event: dict) -> bool:
    """Whether a ``test_result`` event of a recording holds a result the reports can use:
    an object whose ``validity``, if any, is an object (a recording is input, not trusted)."""
    result = event.get("result")
    return isinstance(result, dict) and isinstance(result.get("validity", {}), dict)


def _gait_measures(acc, gyr, fs, demo) -> dict[str, dict[str, Any]]:
    """Gait speed and stride-time SD from the straight, steady walking of a recording.

    Strides count when they are valid, lie in a bout of stride regularity >= 0.5 and do not
    overlap a turn (El-Gohary turns of the gait analysis). Gait speed needs >= 5 such
    strides; the stride-time SD is computed per bout on bouts with >= 10 such strides and
    averaged with stride weights. When much of the walking could not be measured (at least
    ``UNMEASURED_WALKING_MIN_S`` and ``UNMEASURED_WALKING_SHARE`` of the walking-like
    movement, :attr:`analysis.gait.GaitResult.unmeasured_walking_s`), the gait speed is not
    valid and says why: the measurable part would overstate the patient's speed.
    """
    from analysis.gait import GaitAnalyzer

    res = (
        GaitAnalyzer(sensor_height_m=demo.get("sensor_height_m"), height_m=demo.get("height_m"))
        .analyze(acc, gyr, fs)
        .result_
    )
    blocked = [(t.start_s, t.end_s) for t in res.turns]
    steady = [
        b
        for b in res.walking_bouts
        if np.isfinite(b.stride_regularity) and b.stride_regularity >= STEADY_STRIDE_REGULARITY
    ]
    speeds: list[float] = []
    sds: list[tuple[float, int]] = []
    for b in steady:
        durs = []
        for st in res.strides:
            if not st.valid or st.start_s < b.start_s - 1e-6 or st.end_s > b.end_s + 1e-6:
                continue
            if any(st.start_s < t1 and st.end_s > t0 for t0, t1 in blocked):
                continue
            durs.append(st.duration_s)
            if np.isfinite(st.speed_mps):
                speeds.append(st.speed_mps)
        if len(durs) >= MIN_STRIDES_VARIABILITY:
            sds.append((float(np.std(durs, ddof=1)), len(durs)))
    out: dict[str, dict[str, Any]] = {}
    unmeasured = res.unmeasured_walking_s
    if unmeasured >= UNMEASURED_WALKING_MIN_S and unmeasured >= (
        UNMEASURED_WALKING_SHARE * res.walking_like_s
    ):
        # a speed from the measurable part only would overstate the patient's and hide a
        # risk: say what was seen instead
        out["gait_speed_mps"] = {
            "value": None,
            "validity": Validity.invalid(
                NOT_DETECTED,
                f"{unmeasured:.0f} of {res.walking_like_s:.0f} s of walking too slow or "
                "irregular to measure; a speed from the rest would overstate the patient's",
            ).to_dict(),
            "test": WALKING_SOURCE,
        }
    elif len(speeds) >= MIN_STRIDES_SPEED:
        out["gait_speed_mps"] = {
            "value": float(np.mean(speeds)),
            "validity": Validity.ok(f"{len(speeds)} strides of straight, steady walking").to_dict(),
            "test": WALKING_SOURCE,
        }
    if sds:
        w = np.array([n for _, n in sds], dtype=float)
        out["stride_time_sd_ms"] = {
            "value": float(1000 * np.sum([sd * n for sd, n in sds]) / w.sum()),
            "validity": Validity.ok(f"{int(w.sum())} strides").to_dict(),
            "test": WALKING_SOURCE,
        }
    return out


def _failed(exc: Exception) -> dict[str, Any]:
    return {"validity": Validity.invalid(NOT_DETECTED, str(exc)).to_dict()}


def _events_until(recording: Any, until_s: float | None) -> list[dict[str, Any]]:
    return [
        e
        for e in (getattr(recording, "events", None) or [])
        if isinstance(e, dict)
        and (until_s is None or (e.get("t_s") is not None and float(e["t_s"]) <= until_s))
    ]


def stored_results(recording: Any, until_s: float | None = None) -> dict[str, Any]:
    """Test results saved in a recording (``test_result`` events; the latest run per test),
    up to ``until_s`` (recording time) when given."""
    found: dict[str, Any] = {}
    for e in _events_until(recording, until_s):
        if e.get("kind") == "test_result" and e.get("test") in TESTS and usable_result(e):
            found[e["test"]] = e["result"]  # the latest run wins
    return found


def session_results(
    recording: Any,
    demographics: dict | None = None,
    tests: list[str] | None = None,
    until_s: float | None = None,
) -> dict[str, Any]:
    """The test results of a session recording: test -> result dict (JSON-ready).

    Results stored in the recording (``test_result`` events, the latest run of each test)
    are used as they are; a test that was run (``test_start``/``test_stop``) without a
    stored result is computed with :func:`run_test`; a recording of one test without
    protocol events (``metadata["test"]``, e.g. made by the CLI) is analysed as that test;
    ``tests`` are run on the whole recording unless it already holds their result.
    ``until_s`` (recording time) ignores what happened later (the session so far).
    """
    demo = _demographics(recording, demographics)
    events = _events_until(recording, until_s)
    found = stored_results(recording, until_s)
    for e in events:
        if e.get("kind") == "test_stop" and e.get("test") in TESTS and e["test"] not in found:
            try:
                found[e["test"]] = run_test(recording, e["test"], demo)
            except PoiseError as exc:
                found[e["test"]] = _failed(exc)
    meta = getattr(recording, "metadata", None) or {}
    hinted = meta.get("test") if isinstance(meta, dict) else None
    has_runs = any(e.get("kind") == "test_start" for e in events)
    wanted = list(tests or [])
    if hinted in TESTS and not has_runs:
        wanted.insert(0, hinted)
    for t in wanted:
        if t not in TESTS:
            raise PoiseError(f"unknown test {t!r}; choose one of {', '.join(TESTS)}")
        if t not in found:
            try:
                found[t] = run_test(recording, t, demo)
            except PoiseError as exc:
                found[t] = _failed(exc)
    return found


def session_fall_risk(
    recording: Any = None,
    demographics: dict | None = None,
    results: dict[str, Any] | None = None,
    *,
    until_s: float | None = None,
) -> dict[str, Any]:
    """The fall-risk factors of a session: the one function every screen, report and export
    uses (value, thresholds with their sources, status of each factor, the overall level).

    The factors come from the session's clinical tests: ``results`` (test -> result dict, as
    :func:`run_test` returns them) if given, else :func:`session_results` of ``recording``
    (``until_s``: the session up to that recording time). Only a walking test (a registry
    entry with the gait-speed measure) gives the gait-speed and stride-time-variability factors:
    the walks inside a TUG or between chair rises are short, with turns and transitions, and
    are not the patient's usual gait. A recording that holds no clinical test at all (a walk,
    a home session) gives them from its straight, steady walking (:func:`_gait_measures`,
    factor ``test`` = ``"walking"``), so a plain walk still yields a fall-risk summary.

    Parameters
    ----------
    recording
        The session's recording (or ``None`` with ``results``).
    demographics
        ``age``, ``sex``, ``height_m``, ``weight_kg``, ``falls_past_year``; completed from the
        recording's patient data (:func:`recording_patient`).
    results
        The session's test results; ``None`` reads them from ``recording``.
    until_s
        Only the part of ``recording`` up to this time (recording clock).

    Returns
    -------
    dict
        :class:`analysis.fallrisk.FallRiskSummary` as a dict, plus ``tests_used`` and
        ``sensor``.
    """
    if recording is None and results is None:
        raise PoiseError("the fall-risk summary needs a recording or test results")
    demo = _demographics(recording, demographics)
    found = dict(results) if results is not None else {}
    if results is None:
        found = session_results(recording, demo, until_s=until_s)
    measures = measures_from_results(found)
    sensor = None
    if (
        recording is not None
        and not any(t in TESTS for t in found)
        and not _has_runs(recording, until_s)
    ):
        sensor = pick_sensor(recording)
        acc, gyr, fs, _t0 = _arrays(sensor)
        if gyr is not None:
            for k, v in _gait_measures(acc, gyr, fs, demo).items():
                measures.setdefault(k, v)
    summary = FallRiskAssessor(load_norms()).assess(measures, demo).summary_.to_dict()
    summary["tests_used"] = sorted(found)
    if sensor is None and recording is not None and getattr(recording, "sensors", None):
        try:
            sensor = pick_sensor(recording)
        except PoiseError:
            sensor = None
    summary["sensor"] = None if sensor is None else str(sensor.id)
    summary["demographics_used"] = {k: v for k, v in demo.items() if k in _DEMOGRAPHIC_KEYS}
    return summary


def _has_runs(recording: Any, until_s: float | None = None) -> bool:
    """Whether the recording holds a guided test (run events or a one-test header)."""
    meta = getattr(recording, "metadata", None) or {}
    if isinstance(meta, dict) and meta.get("test") in TESTS:
        return True
    return any(
        e.get("kind") in ("test_start", "test_result") for e in _events_until(recording, until_s)
    )


# --------------------------------------------------------------------------- endurance


def endurance(recording: Any, demographics: dict | None = None) -> dict[str, Any]:
    """Session endurance (:class:`analysis.endurance.EnduranceAnalyzer`) of a recording.

    Strides come from :class:`analysis.gait.GaitAnalyzer` (only bouts of steady walking,
    stride regularity >= 0.5, as for the fall risk), repetitions are the sit-to-stand
    transitions of :class:`analysis.transitions.TransitionDetector`.
    """
    from analysis.clinical.base import fill_gaps
    from analysis.endurance import EnduranceAnalyzer
    from analysis.gait import GaitAnalyzer
    from analysis.transitions import TransitionDetector

    demo = _demographics(recording, demographics)
    sensor = pick_sensor(recording)
    acc, gyr, fs, t0 = _arrays(sensor)
    gait = None
    reps: list[float] = []
    if gyr is not None:
        acc_f, gyr_f = fill_gaps(acc)[0], fill_gaps(gyr)[0]
        g = (
            GaitAnalyzer(sensor_height_m=demo.get("sensor_height_m"), height_m=demo.get("height_m"))
            .analyze(acc, gyr, fs)
            .result_
        )
        steady = [
            (b.start_s, b.end_s)
            for b in g.walking_bouts
            if np.isfinite(b.stride_regularity) and b.stride_regularity >= STEADY_STRIDE_REGULARITY
        ]
        gait = {
            "strides": [
                st
                for st in g.strides
                if any(a - 1e-6 <= st.start_s and st.end_s <= b + 1e-6 for a, b in steady)
            ]
        }
        trans = TransitionDetector().detect(acc_f, gyr_f, fs).transitions_
        reps = [t.start_s for t in trans if t.type == "sit-to-stand"]
    out = (
        EnduranceAnalyzer()
        .calculate(acc, gyr, fs, gait=gait, repetitions_s=reps if gyr is not None else None)
        .result_.to_dict()
    )
    out["repetition_kind"] = "sit-to-stand"
    out["sensor"] = str(sensor.id)
    out["time_origin_s"] = t0
    return out
