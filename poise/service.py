"""The analysis service: a recording in, a session's numbers out; the store only persists.

Every consumer that needs a recording's numbers asks here: the store's import
(:func:`import_recording`), ``poise report FILE`` (:func:`recording_session`, without the
store), ``poise batch`` and the GUI. The numbers themselves come from
:mod:`poise.assessments` (one test: :func:`poise.assessments.run_test`; the fall-risk
factors: :func:`poise.assessments.session_fall_risk`, the one function every screen,
report and export uses).

* :func:`analyse_session` ``(recording, demographics, tests) -> SessionAnalysis``: tests,
  results, fall-risk summary and markers of a recording, JSON-ready.
* :func:`import_recording` ``(store, path, ...) -> SessionRecord``: load, find the
  patient (:meth:`poise.store.Store.resolve_patient`), refuse a recording imported before,
  analyse, then hand the session to the store (:meth:`poise.store.Store.add_imported_session`,
  one transaction with the adherence of a home session).
* :func:`recording_session` ``(path, demographics) -> dict``: a recording that is not in
  the store, analysed now, as the session dict :func:`poise.reports.session_report` takes.
* :func:`recording_date`: when a recording was made (header, else the file's time), UTC;
  :func:`recording_local_date` its calendar day on the patient's clock; :func:`display_time`
  a stored time for people.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.clinical.base import Validity
from poise.errors import PoiseError

if TYPE_CHECKING:
    from poise.store import DateLike, Patient, SessionRecord, Store
    from sensors.recording import Recording

__all__ = [
    "SessionAnalysis",
    "analyse_session",
    "import_recording",
    "display_time",
    "local_time",
    "recording_date",
    "recording_local_date",
    "recording_zone",
    "recording_session",
]


@dataclass
class SessionAnalysis:
    """What a recording says about a session (JSON-ready values).

    Attributes
    ----------
    tests
        The keys of ``results``, sorted.
    results
        Test key -> result dict (:func:`poise.assessments.run_test`), plus ``gait`` (the
        gait speed and stride-time variability of a recording without a test) and
        ``home-exercises`` (a home session's exercises).
    fall_risk
        :func:`poise.assessments.session_fall_risk` (``{"error", "factors": []}`` when it
        could not be computed).
    markers
        The therapist's markers (``t_s``, ``marker``, ``text``, ``stage``).
    """

    tests: list[str] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    fall_risk: dict[str, Any] = field(default_factory=dict)
    markers: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{"tests", "results", "fall_risk", "markers"}``."""
        return dict(vars(self))


def analyse_session(
    recording: Recording,
    demographics: dict[str, Any] | None = None,
    tests: list[str] | None = None,
) -> SessionAnalysis:
    """Tests, results, fall-risk summary and markers of a recording.

    The results are :func:`poise.assessments.session_results` (stored ones as they are,
    runs without a stored result computed, ``tests`` run on the whole recording unless it
    holds their result); the fall-risk summary is
    :func:`poise.assessments.session_fall_risk`. A recording without any test (a walk) gets
    its gait speed and stride-time variability as a ``gait`` result; a home session its
    exercises as ``home-exercises``.

    Raises
    ------
    PoiseError
        An unknown test in ``tests``, or a recording without sensor data.
    """
    from poise.assessments import WALKING_SOURCE, session_fall_risk, session_results

    demo = {k: v for k, v in (demographics or {}).items() if v is not None}
    events = list(getattr(recording, "events", None) or [])
    results = session_results(recording, demo, tests=tests)
    try:
        fr = session_fall_risk(recording, demo, results=results)
    except PoiseError as exc:
        fr = {"error": str(exc), "factors": []}
    gait = {
        f["key"]: f["value"]
        for f in fr.get("factors", [])
        if f.get("test") == WALKING_SOURCE and f.get("value") is not None
    }
    if gait and WALKING_SOURCE not in results:
        results[WALKING_SOURCE] = {
            **gait,
            "validity": Validity.ok("whole recording").to_dict(),
        }
    home = [
        e["result"]
        for e in events
        if e.get("kind") == "exercise_result" and isinstance(e.get("result"), dict)
    ]
    if home:
        results["home-exercises"] = _home_summary(home)
    markers = [
        {k: e.get(k) for k in ("t_s", "marker", "text", "stage")}
        for e in events
        if e.get("kind") == "marker"
    ]
    return SessionAnalysis(sorted(results), results, fr, markers)


def _home_summary(home: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``home-exercises`` result: every exercise, counts and each one's numbers."""
    summary: dict[str, Any] = {
        "exercises": home,
        "n_exercises": len(home),
        "n_completed": sum(bool(r.get("completed")) for r in home),
        "validity": Validity.ok("home exercises").to_dict(),
    }
    for r in home:
        if r.get("repetitions") is not None:
            summary[f"{r.get('key')}_repetitions"] = r["repetitions"]
        if r.get("duration_s") is not None:
            summary[f"{r.get('key')}_duration_s"] = r["duration_s"]
    return summary


def recording_date(metadata: dict[str, Any], path: Path) -> str:
    """The recording's start as stored: UTC, ISO without zone (header, else the file's time).

    For people, show it with :func:`display_time`; for the patient's calendar day use
    :func:`recording_local_date`.
    """
    return _recording_start(metadata, path).replace(tzinfo=None).isoformat()


def _recording_start(metadata: dict[str, Any], path: Path) -> _dt.datetime:
    """The recording's start as an aware UTC datetime (whole seconds)."""
    start = metadata.get("start")
    if not isinstance(start, dict):
        start = {}
    utc = start.get("utc")
    t: _dt.datetime | None = None
    if utc:
        try:
            t = _dt.datetime.fromisoformat(str(utc))
            t = t.replace(tzinfo=_dt.UTC) if t.tzinfo is None else t.astimezone(_dt.UTC)
        except ValueError:
            t = None
    if t is None and start.get("epoch_s"):
        t = _dt.datetime.fromtimestamp(float(start["epoch_s"]), _dt.UTC)
    if t is None:
        t = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.UTC)
    return t.replace(microsecond=0)


def recording_zone(metadata: Any) -> tuple[_dt.tzinfo | None, str]:
    """The time zone a recording was made in, from its header's ``start``, and its label.

    The IANA name when the header has one this computer knows (``Europe/Berlin``: summer
    time included), else the UTC offset at the start (``UTC+01:00``: a summer-time change
    during the recording is not followed), else ``None``: older recordings did not say,
    and their days follow this computer's local time (the label says so).
    """
    start = metadata.get("start") if isinstance(metadata, dict) else None
    start = start if isinstance(start, dict) else {}
    name = start.get("timezone")
    if isinstance(name, str) and name:
        from zoneinfo import ZoneInfo

        try:
            return ZoneInfo(name), name
        except (ValueError, OSError, LookupError):
            pass  # a zone this computer does not know: the offset below
    off = start.get("utc_offset_s")
    if isinstance(off, int | float) and math.isfinite(off) and abs(off) < 86400:
        zone = _dt.timezone(_dt.timedelta(seconds=float(off)))
        return zone, str(zone)
    return None, "this computer's local time (the recording does not say its time zone)"


def recording_local_date(metadata: dict[str, Any], path: Path) -> str:
    """The calendar date (ISO) on the patient's clock when the recording started.

    In the time zone the header says the recording was made in
    (:func:`recording_zone`), else this computer's: a home exercise done at 8 pm in New
    York is that day's, not the next UTC day's.
    """
    zone, _label = recording_zone(metadata)
    return _recording_start(metadata, path).astimezone(zone).date().isoformat()


def _given_date(date: DateLike) -> tuple[str, str]:
    """A date a person gave (local time) -> (stored: UTC date-time or the date, local day)."""
    from poise.store import StoreError

    if isinstance(date, _dt.datetime):
        t = date
    elif isinstance(date, _dt.date):
        return date.isoformat(), date.isoformat()
    else:
        text = str(date).strip()
        try:
            if "T" not in text and " " not in text:
                d = _dt.date.fromisoformat(text).isoformat()
                return d, d
            t = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise StoreError(f"not an ISO date (YYYY-MM-DD[THH:MM]): {date!r}") from None
    local = t.astimezone() if t.tzinfo is None else t  # a time without zone: this clock's
    utc = local.astimezone(_dt.UTC).replace(tzinfo=None, microsecond=0)
    return utc.isoformat(), local.date().isoformat()


def display_time(stored: Any) -> str:
    """A stored date or date-time for people: UTC date-times in this computer's local time.

    ``"2027-01-15T01:00:00"`` (UTC, as the store keeps session dates) becomes
    ``"2027-01-14 20:00"`` in New York; a date alone, empty or unreadable text is returned
    as it is.
    """
    text = "" if stored is None else str(stored)
    t = local_time(text)
    return text if t is None else t.strftime("%Y-%m-%d %H:%M")


def local_time(stored: str) -> _dt.datetime | None:
    """A stored date-time (ISO; UTC unless it names its zone) in this computer's local
    time; ``None`` for a date alone or unreadable text."""
    if "T" not in stored:
        return None
    try:
        t = _dt.datetime.fromisoformat(stored)
    except ValueError:
        return None
    return (t.replace(tzinfo=_dt.UTC) if t.tzinfo is None else t).astimezone()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (how the store knows a recording it has imported)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_recording(
    store: Store,
    path: str | os.PathLike[str],
    *,
    patient: int | str | Patient | None = None,
    date: DateLike | None = None,
    kind: str | None = None,
    copy: bool = True,
    create_patient: bool = False,
    tests: list[str] | None = None,
    reassign: bool = False,
) -> SessionRecord:
    """Analyse a recording and add its session to its patient in ``store``.

    The patient is ``patient`` if given, else the one the recording names (its header's
    ``patient``, or the latest ``patient`` event: :func:`poise.assessments.recording_patient`);
    see :meth:`poise.store.Store.resolve_patient` (``create_patient``, ``reassign``). Stored
    test results (``test_result`` events) are used; tests run in the recording without a
    stored result are computed; ``tests`` names tests to run on the whole recording when it
    has no events for them (e.g. a plain TUG recording); the fall-risk summary adds gait
    speed and stride-time variability from the whole recording (:func:`analyse_session`).
    The file is copied into the patient's folder (user-only, owned by the store) unless
    ``copy=False`` or it already is there.

    Raises
    ------
    poise.store.StoreError
        No patient given or named, the patient is unknown (and ``create_patient`` is
        false), the file is not a usable recording, or the same file is already imported.
    poise.store.PatientMismatch
        The recording names another patient and ``reassign`` is false.
    """
    from poise.assessments import recording_patient
    from poise.store import StoreError
    from sensors.recording import load_recording

    src = Path(path)
    if not src.is_file():
        raise StoreError(f"{src}: no such recording")
    from poise.daily import is_long_recording

    # A home recording of hours to a week is read in pieces (bounded memory); its
    # session holds the daily life (poise.daily.analyse_long_recording).
    long = is_long_recording(src)
    rec: Recording  # a LongRecording when long
    try:
        if long:
            from sensors.longread import open_recording

            rec = open_recording(src)
        else:
            rec = load_recording(src)
    except (ValueError, OSError) as exc:
        raise StoreError(f"{src}: can not be imported: {exc}") from exc
    meta = rec.metadata if isinstance(rec.metadata, dict) else {}
    who = recording_patient(rec)
    p = store.resolve_patient(
        who["pseudonym"], patient, create=create_patient, reassign=reassign, source=src
    )
    if date:
        when, day = _given_date(date)
    else:
        when, day = recording_date(meta, src), recording_local_date(meta, src)
    demographics = {k: v for k, v in who["demographics"].items() if v is not None}
    demographics.update({k: v for k, v in p.demographics(when).items() if v is not None})
    digest = file_sha256(src)
    store.check_not_imported(p, digest, str(src))  # early, before the analysis
    try:
        if long:
            from poise.daily import analyse_long_recording

            analysed = SessionAnalysis(**analyse_long_recording(rec, demographics))
        else:
            analysed = analyse_session(rec, demographics, tests=tests)
    except PoiseError as exc:
        raise StoreError(f"{src}: {exc}" if long else str(exc)) from None
    home = (analysed.results.get("home-exercises") or {}).get("exercises", [])
    return store.add_imported_session(
        p,
        src,
        date=when,
        analysis=analysed.to_dict(),
        kind=kind or str(meta.get("session_kind") or ("home" if meta.get("home") else "clinic")),
        notes=str(meta.get("notes") or ""),
        digest=digest,
        copy=copy,
        adherence=home,
        adherence_date=day,
    )


def recording_session(
    path: str | os.PathLike[str], demographics: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A recording that is not in the store, analysed now: ``(session, patient)``.

    ``session`` is the dict :func:`poise.reports.session_report` takes (``id`` ``None``,
    ``date``, ``kind``, ``tests``, ``results``, ``fall_risk``, ``markers``,
    ``recording_path``); ``patient`` is ``{"pseudonym"}`` of the patient it names (or
    ``"anonymous"``), else ``None``. ``demographics`` complete the recording's patient data.
    """
    from poise.assessments import recording_patient
    from sensors.recording import load_recording

    rec = load_recording(path)
    meta = rec.metadata if isinstance(rec.metadata, dict) else {}
    who = recording_patient(rec)
    demo = dict(who["demographics"])
    demo.update({k: v for k, v in (demographics or {}).items() if v is not None})
    analysed = analyse_session(rec, demo)
    named = who["pseudonym"]
    patient = {"pseudonym": named} if named else None
    if patient is None and who["anonymous"]:
        patient = {"pseudonym": "anonymous"}
    session = {
        "id": None,
        "date": recording_date(meta, Path(path)),
        "kind": meta.get("session_kind") or "recording",
        **analysed.to_dict(),
        "recording_path": str(path),
    }
    return session, patient
