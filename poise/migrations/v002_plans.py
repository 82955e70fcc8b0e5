"""Schema 2: exercise plans and adherence (home mode)."""

from __future__ import annotations

import sqlite3

VERSION = 2


def upgrade(conn: sqlite3.Connection) -> None:
    """Create the exercise-plan and adherence tables."""
    conn.execute(
        """
        CREATE TABLE exercise_plans (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            created_utc TEXT NOT NULL,
            exercises TEXT NOT NULL,
            days_per_week INTEGER NOT NULL DEFAULT 7,
            notes TEXT NOT NULL DEFAULT ''
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE adherence (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            date TEXT NOT NULL,
            exercise TEXT NOT NULL,
            completed INTEGER NOT NULL,
            repetitions INTEGER,
            duration_s REAL,
            session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL
        )
        """
    )
    conn.execute("CREATE INDEX adherence_patient_date ON adherence(patient_id, date)")
