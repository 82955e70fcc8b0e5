"""Schema 4: the name a patient wants to be greeted with in home mode (issue 17).

It stays on this computer: exports (PDF, CSV, FHIR, report JSON) and recordings carry the
pseudonym only.
"""

from __future__ import annotations

import sqlite3

VERSION = 4


def upgrade(conn: sqlite3.Connection) -> None:
    """Add ``patients.display_name``."""
    conn.execute("ALTER TABLE patients ADD COLUMN display_name TEXT NOT NULL DEFAULT ''")
