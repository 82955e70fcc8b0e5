"""Schema 3: the SHA-256 of an imported recording (the same file is not imported twice)."""

from __future__ import annotations

import sqlite3

VERSION = 3


def upgrade(conn: sqlite3.Connection) -> None:
    """Add ``sessions.recording_sha256``."""
    conn.execute("ALTER TABLE sessions ADD COLUMN recording_sha256 TEXT")
    conn.execute("CREATE INDEX sessions_sha ON sessions(patient_id, recording_sha256)")
