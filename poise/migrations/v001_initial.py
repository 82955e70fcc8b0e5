"""Schema 1: patients and sessions."""

from __future__ import annotations

import sqlite3

VERSION = 1


def upgrade(conn: sqlite3.Connection) -> None:
    """Create the patients and sessions tables."""
    conn.execute(
        """
        CREATE TABLE patients (
            id INTEGER PRIMARY KEY,
            pseudonym TEXT NOT NULL UNIQUE,
            birth_year INTEGER,
            sex TEXT CHECK (sex IN ('f', 'm') OR sex IS NULL),
            height_m REAL,
            weight_kg REAL,
            notes TEXT NOT NULL DEFAULT '',
            created_utc TEXT NOT NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            date TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'clinic',
            tests TEXT NOT NULL DEFAULT '[]',
            results TEXT NOT NULL DEFAULT '{}',
            fall_risk TEXT,
            markers TEXT NOT NULL DEFAULT '[]',
            recording_path TEXT,
            recording_owned INTEGER NOT NULL DEFAULT 0,
            notes TEXT NOT NULL DEFAULT '',
            imported_utc TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX sessions_patient_date ON sessions(patient_id, date)")
