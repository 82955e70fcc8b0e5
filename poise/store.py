"""The patient and session store: one SQLite file in a user-only data folder.

Layout of the data folder (default :func:`default_data_dir`)::

    <data_dir>/              mode 0700
        poise.db             mode 0600 (patients, sessions, exercise plans, adherence)
        recordings/          mode 0700 (the therapist GUI's recordings)
            <pseudonym>/     mode 0700, recordings imported for this patient (0600 each)

* Patients are known by a **pseudonym** (no names): birth year, sex, height, weight, notes.
* A session has a date, the tests run, their results and the fall-risk summary (JSON, as
  :mod:`poise.assessments` returns them), the markers and the recording it came from.
  Recordings that the store copied into the patient's folder (``recording_owned``) are
  deleted with the session or the patient; recordings elsewhere are never touched.
* The store persists; it does not analyse. :func:`poise.service.import_recording` analyses
  a recording and hands its session to :meth:`Store.add_imported_session` (the patient from
  :meth:`Store.resolve_patient`: named in the recording header, or an explicit one).
* The schema is versioned (``PRAGMA user_version``, :mod:`poise.migrations`). A database
  that is damaged, not SQLite, or from a newer Poise raises :class:`StoreError` with what
  to do, and is left exactly as it was (nothing is written before the checks pass; a
  backup ``poise.db.v<N>.bak`` is made before any migration).
"""

from __future__ import annotations

import datetime as _dt
import functools
import inspect
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from analysis.clinical.base import to_jsonable
from poise import migrations
from poise.errors import PoiseError
from poise.outputs import make_private_dir

__all__ = [
    "DB_NAME",
    "DIR_MODE",
    "FILE_MODE",
    "Patient",
    "PatientMismatch",
    "SessionRecord",
    "Store",
    "StoreError",
    "default_data_dir",
    "resolve_data_dir",
]

DB_NAME = "poise.db"
FILE_MODE = 0o600
DIR_MODE = 0o700
#: How long a command waits for another Poise that holds the database before giving up.
BUSY_TIMEOUT_S = 10.0
#: Longest pseudonym (characters): with the id it names the patient's recordings folder,
#: which must stay a valid file name everywhere (255 bytes, 4 bytes a character at most).
MAX_PSEUDONYM_LEN = 40
_SQLITE_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
_SQLITE_DAMAGE_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PATIENT_FIELDS = ("birth_year", "sex", "height_m", "weight_kg", "notes", "display_name")


class StoreError(PoiseError):
    """The store can not be used (damaged, newer version, unknown patient...): what and where."""


class PatientMismatch(StoreError):
    """A recording is filed under another patient than the one it names (ask first)."""

    def __init__(self, message: str, named: str, chosen: str) -> None:
        super().__init__(message)
        self.named = named
        self.chosen = chosen


def default_data_dir() -> Path:
    """``$POISE_DATA_DIR``, else ``$XDG_DATA_HOME/poise``, else ``~/.local/share/poise``."""
    env = os.environ.get("POISE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "poise"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """An explicit ``--data-dir`` or :func:`default_data_dir`."""
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def check_pseudonym(pseudonym: Any) -> str:
    """A valid pseudonym (stripped), or :class:`StoreError` saying what is wrong with it.

    Pseudonyms are printable text (no newline, tab or other control character) of 1 to
    :data:`MAX_PSEUDONYM_LEN` characters.
    """
    s = str(pseudonym).strip()
    if not s:
        raise StoreError("a patient needs a pseudonym")
    if not s.isprintable():
        bad = next(c for c in s if not c.isprintable())
        raise StoreError(f"pseudonym {s!r}: only printable characters are allowed (found {bad!r})")
    if len(s) > MAX_PSEUDONYM_LEN:
        raise StoreError(
            f"pseudonym {s[:20]!r}...: {len(s)} characters, at most {MAX_PSEUDONYM_LEN} "
            "(it names the patient's folder)"
        )
    return s


def store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """An SQLite error as a one-line :class:`StoreError` naming the database file.

    Busy (another process holds the database) is told apart from damaged (SQLite found
    a corrupt page or no database): only damage suggests restoring a backup.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    code = None if code is None else code & 0xFF
    if code in _SQLITE_BUSY_CODES:
        return StoreError(
            f"{path}: another Poise is using the database (still busy after "
            f"{BUSY_TIMEOUT_S:g} s); try again when it is done"
        )
    if code in _SQLITE_DAMAGE_CODES:
        return StoreError(
            f"{path}: the database is damaged ({exc}). It was not changed; restore it "
            "from a backup or move it away to start a new one."
        )
    if "decode to UTF-8" in str(exc):
        return StoreError(f"{path}: a text field is not valid UTF-8, the file is damaged ({exc})")
    return StoreError(f"{path}: database error: {exc}")


def _row_id(cur: sqlite3.Cursor) -> int:
    """The id of the row an INSERT through ``cur`` made."""
    if cur.lastrowid is None:  # pragma: no cover - sqlite3 sets it after every INSERT
        raise StoreError("the database did not say which row it inserted")
    return int(cur.lastrowid)


def _now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def _norm_sex(sex: Any) -> str | None:
    if sex is None or sex == "":
        return None
    s = str(sex).strip().lower()
    out = {"f": "f", "female": "f", "w": "f", "woman": "f", "m": "m", "male": "m", "man": "m"}
    if s not in out:
        raise StoreError(f"sex must be 'f' or 'm' (or empty), got {sex!r}")
    return out[s]


#: A date as the store takes it: a date, a date-time, or ISO text (``YYYY-MM-DD[THH:MM]``).
DateLike = _dt.date | str


def _norm_date(date: DateLike) -> str:
    """ISO date or date-time text (sortable)."""
    if isinstance(date, _dt.datetime):
        return date.replace(microsecond=0).isoformat()
    if isinstance(date, _dt.date):
        return date.isoformat()
    s = str(date).strip()
    try:
        if "T" in s or " " in s:
            return _dt.datetime.fromisoformat(s).replace(microsecond=0).isoformat()
        return _dt.date.fromisoformat(s).isoformat()
    except ValueError:
        raise StoreError(f"not an ISO date (YYYY-MM-DD[THH:MM]): {date!r}") from None


@dataclass
class Patient:
    """A patient as stored (pseudonymous)."""

    id: int
    pseudonym: str
    birth_year: int | None = None
    sex: str | None = None
    height_m: float | None = None
    weight_kg: float | None = None
    notes: str = ""
    created_utc: str = ""
    #: how home mode greets the patient (their choice); never exported
    display_name: str = ""

    def age_at(self, date: str | _dt.date | None = None) -> int | None:
        """Age in whole years at ``date`` (birth year only: the year difference)."""
        if self.birth_year is None:
            return None
        if date is None:
            year = _dt.date.today().year
        elif isinstance(date, _dt.date):
            year = date.year
        else:
            year = int(str(date)[:4])
        return year - int(self.birth_year)

    def demographics(self, date: str | _dt.date | None = None) -> dict[str, Any]:
        """``{"age", "sex", "height_m", "weight_kg"}`` for the norms (``None`` when unknown)."""
        return {
            "age": self.age_at(date),
            "sex": self.sex,
            "height_m": self.height_m,
            "weight_kg": self.weight_kg,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as exported: without the display name (a name, kept here)."""
        return {k: v for k, v in self.__dict__.items() if k != "display_name"}


@dataclass
class SessionRecord:
    """A stored session."""

    id: int
    patient_id: int
    date: str
    kind: str = "clinic"
    tests: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    fall_risk: dict[str, Any] | None = None
    markers: list[dict[str, Any]] = field(default_factory=list)
    recording_path: str | None = None
    recording_owned: bool = False
    notes: str = ""
    imported_utc: str = ""
    recording_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def _check_db_file(path: Path) -> None:
    """Refuse a file that is not an SQLite database (before SQLite touches it)."""
    if not path.exists():
        return
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, expected the Poise database file")
    with open(path, "rb") as fh:
        head = fh.read(len(_SQLITE_MAGIC))
    if len(head) == 0:
        return  # an empty file is a new database
    if head != _SQLITE_MAGIC:
        raise StoreError(
            f"{path}: is not a Poise database (not an SQLite file; it may be damaged). "
            "It was not changed; restore it from a backup or move it away to start a new one."
        )


def _json(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), allow_nan=False, separators=(",", ":"))


class Store:
    """Patients, sessions, exercise plans and adherence in ``<data_dir>/poise.db``.

    Parameters
    ----------
    data_dir
        The data folder (created user-only); default :func:`default_data_dir`.
    create
        Create the folder and database when missing (default); ``False`` raises
        :class:`StoreError` instead.

    Raises
    ------
    StoreError
        The database is damaged, not SQLite, or from a newer Poise; it is left unchanged.
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, *, create: bool = True):
        self.data_dir = resolve_data_dir(data_dir)
        self.path = self.data_dir / DB_NAME
        if not self.path.exists() and not create:
            raise StoreError(f"{self.path}: no Poise database here")
        make_private_dir(self.data_dir)
        _check_db_file(self.path)
        if not self.path.exists():  # created user-only; an existing file keeps its mode
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            os.close(fd)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc
        self.conn.row_factory = sqlite3.Row
        try:
            self._check_and_migrate()
        except sqlite3.Error as exc:
            self.conn.close()
            raise store_error(self.path, exc) from exc
        except BaseException:
            self.conn.close()
            raise

    # ------------------------------------------------------------------ opening
    def _check_and_migrate(self) -> None:
        try:
            ok = self.conn.execute("PRAGMA quick_check").fetchone()[0]
            version = migrations.current_version(self.conn)
        except sqlite3.Error as exc:  # busy is not damaged: store_error tells them apart
            raise store_error(self.path, exc) from exc
        if ok != "ok":
            raise StoreError(
                f"{self.path}: the database is damaged (integrity check: {ok}). It was not "
                "changed; restore it from a backup or move it away to start a new one."
            )
        if version > migrations.SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: the database was written by a newer Poise (schema version "
                f"{version}; this Poise knows up to {migrations.SCHEMA_VERSION}). It was not "
                "changed; update Poise to open it."
            )
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA secure_delete = ON")  # deleted patients leave no traces
        if version < migrations.SCHEMA_VERSION:
            if version > 0:
                backup = self.path.with_name(f"{self.path.name}.v{version}.bak")
                fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
                os.close(fd)
                dst = sqlite3.connect(backup)
                try:
                    self.conn.backup(dst)
                finally:
                    dst.close()
            try:
                migrations.migrate(self.conn)
            except sqlite3.Error as exc:
                err = store_error(self.path, exc)
                raise StoreError(f"upgrading the database failed: {err}") from exc

    @property
    def schema_version(self) -> int:
        """The database's schema version."""
        return migrations.current_version(self.conn)

    @property
    def recordings_dir(self) -> Path:
        """``<data_dir>/recordings`` (created user-only on first use)."""
        return make_private_dir(self.data_dir / "recordings")

    def _patient_folder(self, patient: Patient) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in patient.pseudonym)
        safe = safe[:MAX_PSEUDONYM_LEN]  # pseudonyms from before the limit
        return self.data_dir / "recordings" / f"{safe}-{patient.id}"

    def patient_dir(self, patient: Patient) -> Path:
        """The folder of recordings the store owns for ``patient`` (created user-only)."""
        self.recordings_dir  # noqa: B018 (creates it user-only)
        return make_private_dir(self._patient_folder(patient))

    def close(self) -> None:
        """Close the database."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ patients
    def add_patient(
        self,
        pseudonym: str,
        *,
        birth_year: int | None = None,
        sex: str | None = None,
        height_m: float | None = None,
        weight_kg: float | None = None,
        notes: str = "",
        display_name: str = "",
    ) -> Patient:
        """Add a patient; the pseudonym must be new (:class:`StoreError` otherwise)."""
        pseudonym = check_pseudonym(pseudonym)
        fields = self._check_fields(
            {
                "birth_year": birth_year,
                "sex": sex,
                "height_m": height_m,
                "weight_kg": weight_kg,
                "notes": notes,
                "display_name": display_name,
            }
        )
        try:
            cur = self.conn.execute(
                "INSERT INTO patients (pseudonym, birth_year, sex, height_m, weight_kg, notes, "
                "created_utc, display_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pseudonym,
                    fields["birth_year"],
                    fields["sex"],
                    fields["height_m"],
                    fields["weight_kg"],
                    fields["notes"] or "",
                    _now_utc(),
                    fields["display_name"],
                ),
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"a patient {pseudonym!r} already exists") from None
        return self.get_patient(_row_id(cur))

    @staticmethod
    def _check_fields(f: dict[str, Any]) -> dict[str, Any]:
        out = dict(f)
        if "sex" in out:
            out["sex"] = _norm_sex(out["sex"])
        by = out.get("birth_year")
        if by is not None:
            by = int(by)
            if not 1900 <= by <= _dt.date.today().year:
                raise StoreError(f"birth year {by} is not plausible")
            out["birth_year"] = by
        h = out.get("height_m")
        if h is not None:
            h = float(h)
            if h > 3.0:  # given in cm
                h /= 100.0
            if not 0.5 <= h <= 2.6:
                raise StoreError(f"height {h} m is not plausible (give metres, e.g. 1.68)")
            out["height_m"] = h
        if "display_name" in out:
            name = " ".join(str(out["display_name"] or "").split())
            if len(name) > 40:
                raise StoreError("a display name has at most 40 characters")
            out["display_name"] = name
        w = out.get("weight_kg")
        if w is not None:
            w = float(w)
            if not 15 <= w <= 400:
                raise StoreError(f"weight {w} kg is not plausible")
            out["weight_kg"] = w
        return out

    def update_patient(self, patient: int | str | Patient, **fields: Any) -> Patient:
        """Change birth_year, sex, height_m, weight_kg, notes or display_name."""
        p = self.patient(patient)
        unknown = set(fields) - set(_PATIENT_FIELDS)
        if unknown:
            raise StoreError(f"unknown patient field(s): {', '.join(sorted(unknown))}")
        f = self._check_fields(fields)
        if f:
            cols = ", ".join(f"{k} = ?" for k in f)
            self.conn.execute(f"UPDATE patients SET {cols} WHERE id = ?", (*f.values(), p.id))
        return self.get_patient(p.id)

    def _row_by_id(
        self, table: Literal["patients", "sessions"], what: str, row_id: int
    ) -> sqlite3.Row:
        """The row of ``table`` with this id; a missing one is an error naming ``what``."""
        row = self.conn.execute(f"SELECT * FROM {table} WHERE id = ?", (int(row_id),)).fetchone()
        if row is None:
            raise StoreError(f"no {what} with id {row_id}")
        return row

    def get_patient(self, patient_id: int) -> Patient:
        """The patient with this numeric id."""
        return Patient(**dict(self._row_by_id("patients", "patient", patient_id)))

    def find_patient(self, pseudonym: str) -> Patient | None:
        """The patient with this pseudonym, or ``None``."""
        row = self.conn.execute(
            "SELECT * FROM patients WHERE pseudonym = ?", (str(pseudonym).strip(),)
        ).fetchone()
        return Patient(**dict(row)) if row else None

    def patient(self, ref: int | str | Patient) -> Patient:
        """A patient by :class:`Patient`, numeric id or pseudonym (pseudonym wins)."""
        if isinstance(ref, Patient):
            return self.get_patient(ref.id)
        if isinstance(ref, str):
            p = self.find_patient(ref)
            if p is not None:
                return p
            if ref.strip().isdigit():
                return self.get_patient(int(ref))
            raise StoreError(f"no patient {ref!r} in {self.path}")
        return self.get_patient(int(ref))

    def list_patients(self) -> list[Patient]:
        """All patients, by pseudonym."""
        rows = self.conn.execute("SELECT * FROM patients ORDER BY pseudonym").fetchall()
        return [Patient(**dict(r)) for r in rows]

    def delete_patient(self, patient: int | str | Patient) -> int:
        """Delete a patient with their sessions, plans, adherence and owned recordings.

        Returns the number of recording files deleted. Recordings the store does not own
        (outside the patient's folder) are left alone.
        """
        p = self.patient(patient)
        owned = [
            Path(r["recording_path"])
            for r in self.conn.execute(
                "SELECT recording_path FROM sessions WHERE patient_id = ? AND recording_owned = 1",
                (p.id,),
            )
            if r["recording_path"]
        ]
        self.conn.execute("DELETE FROM patients WHERE id = ?", (p.id,))  # cascades
        n = 0
        for f in owned:
            if f.exists():
                f.unlink()
                n += 1
        folder = self._patient_folder(p)
        if folder.exists():
            for f in folder.iterdir():  # anything else we wrote there for the patient
                if f.is_file():
                    f.unlink()
                    n += 1
            folder.rmdir()
        return n

    # ------------------------------------------------------------------ sessions
    def add_session(
        self,
        patient: int | str | Patient,
        *,
        date: DateLike,
        tests: list[str] | None = None,
        results: dict[str, Any] | None = None,
        fall_risk: dict[str, Any] | None = None,
        markers: list[dict[str, Any]] | None = None,
        recording_path: str | os.PathLike | None = None,
        recording_owned: bool = False,
        kind: str = "clinic",
        notes: str = "",
        recording_sha256: str | None = None,
    ) -> SessionRecord:
        """Store a session for ``patient``.

        A recording (``recording_sha256``) is stored once per patient: a second session
        with the same hash is refused (:class:`StoreError` naming the first).
        """
        p = self.patient(patient)
        try:
            return self._insert_session(
                p,
                date=date,
                tests=tests,
                results=results,
                fall_risk=fall_risk,
                markers=markers,
                recording_path=recording_path,
                recording_owned=recording_owned,
                kind=kind,
                notes=notes,
                recording_sha256=recording_sha256,
            )
        except sqlite3.IntegrityError:
            raise self._already_imported(p, recording_sha256, "this recording") from None

    def _already_imported(self, p: Patient, digest: str | None, what: str) -> StoreError:
        first = None if digest is None else self._session_with(p, digest)
        where = f" as session {first}" if first is not None else ""
        return StoreError(f"{what}: already imported for {p.pseudonym}{where}")

    def _insert_session(
        self,
        p: Patient,
        *,
        date: DateLike,
        tests: list[str] | None,
        results: dict[str, Any] | None,
        fall_risk: dict[str, Any] | None,
        markers: list[dict[str, Any]] | None,
        recording_path: str | os.PathLike | None,
        recording_owned: bool,
        kind: str,
        notes: str,
        recording_sha256: str | None,
    ) -> SessionRecord:
        """INSERT one session (``sqlite3.IntegrityError`` if its recording is stored)."""
        results = dict(results or {})
        tests = list(tests if tests is not None else results)
        cur = self.conn.execute(
            "INSERT INTO sessions (patient_id, date, kind, tests, results, fall_risk, markers, "
            "recording_path, recording_owned, notes, imported_utc, recording_sha256) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                p.id,
                _norm_date(date),
                str(kind),
                _json(tests),
                _json(results),
                None if fall_risk is None else _json(fall_risk),
                _json(list(markers or [])),
                None if recording_path is None else str(recording_path),
                int(bool(recording_owned)),
                notes or "",
                _now_utc(),
                recording_sha256,
            ),
        )
        return self.get_session(_row_id(cur))

    @staticmethod
    def _session(row: sqlite3.Row) -> SessionRecord:
        d = dict(row)
        for k in ("tests", "results", "markers"):
            d[k] = json.loads(d[k]) if d[k] else ([] if k != "results" else {})
        d["fall_risk"] = json.loads(d["fall_risk"]) if d["fall_risk"] else None
        d["recording_owned"] = bool(d["recording_owned"])
        return SessionRecord(**d)

    def get_session(self, session_id: int) -> SessionRecord:
        """The session with this id."""
        return self._session(self._row_by_id("sessions", "session", session_id))

    def sessions(self, patient: int | str | Patient) -> list[SessionRecord]:
        """A patient's sessions, oldest first."""
        p = self.patient(patient)
        rows = self.conn.execute(
            "SELECT * FROM sessions WHERE patient_id = ? ORDER BY date, id", (p.id,)
        ).fetchall()
        return [self._session(r) for r in rows]

    def delete_session(self, session_id: int) -> None:
        """Delete a session (and its recording if the store owns it)."""
        s = self.get_session(session_id)
        self.conn.execute("DELETE FROM sessions WHERE id = ?", (s.id,))
        if s.recording_owned and s.recording_path and Path(s.recording_path).exists():
            Path(s.recording_path).unlink()

    def resolve_patient(
        self,
        named: str | None,
        patient: int | str | Patient | None = None,
        *,
        create: bool = False,
        reassign: bool = False,
        source: str | os.PathLike[str] = "",
    ) -> Patient:
        """The patient a recording's session goes to.

        ``patient`` if given, else ``named`` (the patient the recording names,
        :func:`poise.assessments.recording_patient`), added when ``create`` is true.
        ``source`` names the recording in the messages.

        Raises
        ------
        StoreError
            No patient given or named, or the named one is unknown and ``create`` is false.
        PatientMismatch
            The recording names another patient than ``patient`` and ``reassign`` is false.
        """
        src = str(source)
        if patient is None:
            if not named:
                raise StoreError(
                    f"{src}: the recording names no patient; say which patient it belongs to "
                    "(--patient ID)"
                )
            p = self.find_patient(str(named))
            if p is None:
                if not create:
                    raise StoreError(
                        f"{src}: belongs to patient {named!r}, who is not in the store; add "
                        f"the patient first (poise patient add {named}) or pass --patient"
                    )
                try:
                    p = self.add_patient(str(named))
                except StoreError:
                    p = self.find_patient(str(named))  # added meanwhile by another import
                    if p is None:
                        raise
            return p
        p = self.patient(patient)
        if named and named != p.pseudonym and not reassign:
            raise PatientMismatch(
                f"{src}: is the session of {named} (as the recording says), not of "
                f"{p.pseudonym}; file it under {p.pseudonym} anyway only if the recording "
                "is theirs (--reassign)",
                named,
                p.pseudonym,
            )
        return p

    def check_not_imported(self, patient: Patient, digest: str, what: str) -> None:
        """Refuse a recording (by its SHA-256) already imported for ``patient``."""
        if self._session_with(patient, digest) is not None:
            raise self._already_imported(patient, digest, what)

    def add_imported_session(
        self,
        patient: Patient,
        src: Path,
        *,
        date: DateLike,
        analysis: dict[str, Any],
        kind: str,
        notes: str,
        digest: str,
        copy: bool = True,
        adherence: list[dict[str, Any]] | None = None,
        adherence_date: DateLike | None = None,
    ) -> SessionRecord:
        """Store the session of an analysed recording (:func:`poise.service.import_recording`).

        ``analysis`` holds ``tests``, ``results``, ``fall_risk`` and ``markers``
        (:class:`poise.service.SessionAnalysis`); ``adherence`` the exercises of a home
        session (``key``, ``completed``, ``repetitions``, ``duration_s``), noted on
        ``adherence_date`` (the patient's calendar day; default the session's date). The file is copied
        into the patient's folder (user-only, owned by the store) unless ``copy=False`` or it
        already is there. The session and its adherence rows are one transaction; the unique
        index on (patient, recording hash) makes the duplicate check atomic (of two imports of
        one file racing, the second fails and its copy is removed).
        """
        p = patient
        dest = src.resolve()
        owned = False
        copied: Path | None = None
        folder = self.patient_dir(p)
        if copy:
            if folder.resolve() not in dest.parents:
                dest = copied = _copy_private(src, folder)
            owned = True
        try:
            dup = self.conn.execute(
                "SELECT id FROM sessions WHERE patient_id = ? AND recording_path = ?",
                (p.id, str(dest)),
            ).fetchone()
            if dup is not None:
                raise StoreError(f"{dest}: already imported as session {dup['id']}")
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                session = self._insert_session(
                    p,
                    date=date,
                    tests=analysis["tests"],
                    results=analysis["results"],
                    fall_risk=analysis["fall_risk"],
                    markers=analysis["markers"],
                    recording_path=dest,
                    recording_owned=owned,
                    kind=kind,
                    notes=notes,
                    recording_sha256=digest,
                )
                for r in adherence or []:
                    self.record_adherence(
                        p,
                        date=adherence_date or session.date,
                        exercise=str(r.get("key")),
                        completed=bool(r.get("completed")),
                        repetitions=r.get("repetitions"),
                        duration_s=r.get("duration_s"),
                        session_id=session.id,
                    )
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:  # SQLite may have rolled back already
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.IntegrityError:
            if copied is not None:
                copied.unlink(missing_ok=True)
            raise self._already_imported(p, digest, str(src)) from None
        except BaseException:
            if copied is not None:
                copied.unlink(missing_ok=True)
            raise
        return session

    def _session_with(self, p: Patient, digest: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM sessions WHERE patient_id = ? AND recording_sha256 = ?",
            (p.id, digest),
        ).fetchone()
        return None if row is None else int(row["id"])

    # ------------------------------------------------------------------ plans, adherence
    def set_plan(
        self,
        patient: int | str | Patient,
        exercises: list[dict[str, Any]],
        *,
        days_per_week: int = 7,
        notes: str = "",
    ) -> int:
        """Give ``patient`` a new exercise plan (the newest plan is the current one)."""
        p = self.patient(patient)
        if not exercises:
            raise StoreError("an exercise plan needs at least one exercise")
        for i, e in enumerate(exercises):
            if not isinstance(e, dict) or not e.get("key"):
                raise StoreError(f"exercise {i} of the plan has no 'key'")
        cur = self.conn.execute(
            "INSERT INTO exercise_plans (patient_id, created_utc, exercises, days_per_week, notes) "
            "VALUES (?, ?, ?, ?, ?)",
            (p.id, _now_utc(), _json(exercises), int(days_per_week), notes or ""),
        )
        return _row_id(cur)

    def plan(self, patient: int | str | Patient) -> dict[str, Any] | None:
        """The current plan ``{"id", "exercises", "days_per_week", "notes", "created_utc"}``."""
        p = self.patient(patient)
        row = self.conn.execute(
            "SELECT * FROM exercise_plans WHERE patient_id = ? ORDER BY id DESC LIMIT 1", (p.id,)
        ).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["exercises"] = json.loads(d["exercises"])
        return d

    def record_adherence(
        self,
        patient: int | str | Patient,
        *,
        date: DateLike,
        exercise: str,
        completed: bool,
        repetitions: int | None = None,
        duration_s: float | None = None,
        session_id: int | None = None,
    ) -> None:
        """Note that an exercise was done (or started and not completed) on ``date``."""
        p = self.patient(patient)
        self.conn.execute(
            "INSERT INTO adherence (patient_id, date, exercise, completed, repetitions, "
            "duration_s, session_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                p.id,
                _norm_date(date)[:10],
                str(exercise),
                int(bool(completed)),
                repetitions,
                duration_s,
                session_id,
            ),
        )

    def adherence(
        self,
        patient: int | str | Patient,
        start: DateLike | None = None,
        end: DateLike | None = None,
    ) -> list[dict[str, Any]]:
        """Adherence entries of ``patient`` between ``start`` and ``end`` (ISO dates)."""
        p = self.patient(patient)
        q = "SELECT date, exercise, completed, repetitions, duration_s, session_id FROM adherence "
        q += "WHERE patient_id = ?"
        args: list[Any] = [p.id]
        if start is not None:
            q += " AND date >= ?"
            args.append(_norm_date(start)[:10])
        if end is not None:
            q += " AND date <= ?"
            args.append(_norm_date(end)[:10])
        rows = self.conn.execute(q + " ORDER BY date, id", args).fetchall()
        return [{**dict(r), "completed": bool(r["completed"])} for r in rows]


def _copy_private(src: Path, folder: Path) -> Path:
    """Copy ``src`` into ``folder`` under a new name (``name-2.poise`` ... if taken), 0o600."""
    dest = folder / src.name
    n = 1
    while True:
        try:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            break
        except FileExistsError:  # taken, also by an import running at the same time
            n += 1
            dest = folder / f"{src.stem}-{n}{src.suffix}"
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


def _translate_errors(fn: Any) -> Any:
    """Wrap a :class:`Store` method: SQLite errors become one-line StoreErrors."""

    @functools.wraps(fn)
    def method(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc

    return method


# Every public method: "database is locked" after the busy timeout, a damaged page or an
# undecodable text field reach the user as one line naming the database (never a
# traceback, and never "damaged" for a database that is only busy).
for _name, _fn in list(vars(Store).items()):
    if not _name.startswith("_") and inspect.isfunction(_fn):
        setattr(Store, _name, _translate_errors(_fn))
del _name, _fn
