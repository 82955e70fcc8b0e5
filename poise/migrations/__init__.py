"""Schema migrations of the patient/session store (:mod:`poise.store`).

The schema version lives in SQLite's ``PRAGMA user_version``. Each step is a module
``vNNN_<name>.py`` in this package exposing ``VERSION`` (the version it produces) and
``upgrade(conn)``; :func:`migrate` runs the missing steps in order, each in one
transaction together with the ``user_version`` bump, so a failed step leaves the database
at the previous version. A database whose version is newer than :data:`SCHEMA_VERSION` is
never touched (an older Poise must not rewrite a newer Poise's data).

To change the schema: add ``vNNN_what.py`` with ``VERSION = NNN`` and an ``upgrade``, and
append it to :data:`STEPS`. Never edit a released step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from poise.migrations import (
    v001_initial,
    v002_plans,
    v003_recording_hash,
    v004_display_name,
    v005_unique_recording,
)

#: (version produced, upgrade function), in order.
STEPS: list[tuple[int, Callable[[sqlite3.Connection], None]]] = [
    (v001_initial.VERSION, v001_initial.upgrade),
    (v002_plans.VERSION, v002_plans.upgrade),
    (v003_recording_hash.VERSION, v003_recording_hash.upgrade),
    (v004_display_name.VERSION, v004_display_name.upgrade),
    (v005_unique_recording.VERSION, v005_unique_recording.upgrade),
]
#: The newest schema this version of Poise knows.
SCHEMA_VERSION = STEPS[-1][0]


def current_version(conn: sqlite3.Connection) -> int:
    """The database's ``user_version`` (0 for a new, empty database)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> list[int]:
    """Upgrade ``conn`` to ``target``; returns the versions applied (may be empty).

    The caller has checked that the database is not newer than :data:`SCHEMA_VERSION`.
    """
    applied = []
    version = current_version(conn)
    for step_version, upgrade in STEPS:
        if step_version <= version or step_version > target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            upgrade(conn)
            conn.execute(f"PRAGMA user_version = {int(step_version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = step_version
        applied.append(step_version)
    return applied
