"""Schema 5: a recording is stored once per patient (unique index on patient and hash).

Schema 3 checked for a duplicate before inserting, so two imports of one file started
together could both pass the check. The unique index makes the check part of the
INSERT. Duplicates that already exist are kept (nothing is deleted); only the oldest
session of each (patient, hash) keeps the hash, the later copies get NULL, which the
index allows (and which a user can still see and delete).
"""

from __future__ import annotations

import sqlite3

VERSION = 5


def upgrade(conn: sqlite3.Connection) -> None:
    """Clear the hash of later duplicates, replace the index by a unique one."""
    conn.execute(
        """
        UPDATE sessions SET recording_sha256 = NULL
        WHERE recording_sha256 IS NOT NULL AND id NOT IN (
            SELECT MIN(id) FROM sessions WHERE recording_sha256 IS NOT NULL
            GROUP BY patient_id, recording_sha256
        )
        """
    )
    conn.execute("DROP INDEX IF EXISTS sessions_sha")
    conn.execute(
        "CREATE UNIQUE INDEX sessions_patient_sha ON sessions(patient_id, recording_sha256)"
    )
