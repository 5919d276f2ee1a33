"""Notes kept in SQLite, one owner (the OpenID ``sub``) per note."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_owner ON notes (owner, id);
"""
# SQLite integers are 64-bit; a larger id from a URL cannot exist (and would raise).
MAX_ID = 2**63 - 1


class NoteIn(BaseModel):
    """What a client may send to create a note (form or JSON)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(max_length=10_000)] = ""


def validation_problems(error: ValidationError) -> list[dict[str, str]]:
    """A ``ValidationError`` as a list of ``{"field", "message"}`` a user can act on."""
    return [
        {
            "field": ".".join(str(part) for part in problem["loc"]) or "body",
            "message": problem["msg"],
        }
        for problem in error.errors(include_url=False)
    ]


@dataclass(frozen=True)
class Note:
    """One stored note."""

    id: int
    title: str
    body: str
    created_at: str

    def as_json(self) -> dict[str, Any]:
        """The note as the API returns it."""
        return asdict(self)


class NotesStore:
    """SQLite storage; one short connection per call, so it is safe across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create_schema(self) -> None:
        """Create the database file, its directory and the table if missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(SCHEMA)

    def list_for(self, owner: str) -> list[Note]:
        """Every note of ``owner``, oldest first."""
        return list(self.iter_for(owner))

    def iter_for(self, owner: str) -> Iterator[Note]:
        """Every note of ``owner``, oldest first, read lazily (for streaming)."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT id, title, body, created_at FROM notes WHERE owner = ? ORDER BY id",
                (owner,),
            )
            for row in rows:
                yield Note(*row)

    def get(self, owner: str, note_id: int) -> Note | None:
        """The note ``note_id`` of ``owner``, or None (other owners' notes are invisible)."""
        if not 0 <= note_id <= MAX_ID:
            return None
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT id, title, body, created_at FROM notes WHERE owner = ? AND id = ?",
                (owner, note_id),
            ).fetchone()
        return Note(*row) if row else None

    def create(self, owner: str, note: NoteIn) -> Note:
        """Store a new note and return it."""
        created_at = datetime.now(UTC).replace(microsecond=0).isoformat()
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT INTO notes (owner, title, body, created_at) VALUES (?, ?, ?, ?)",
                (owner, note.title, note.body, created_at),
            )
            assert cursor.lastrowid is not None
            return Note(cursor.lastrowid, note.title, note.body, created_at)

    def delete(self, owner: str, note_id: int) -> bool:
        """Delete the note; False when ``owner`` has no such note."""
        if not 0 <= note_id <= MAX_ID:
            return False
        with closing(self._connect()) as db, db:
            cursor = db.execute("DELETE FROM notes WHERE owner = ? AND id = ?", (owner, note_id))
            return cursor.rowcount > 0

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5)


CSV_COLUMNS = ("id", "title", "body", "created_at")


def csv_rows(notes: Iterator[Note]) -> Iterator[str]:
    """The notes as CSV, one line per chunk, header first (the export format)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in [CSV_COLUMNS, *((n.id, n.title, n.body, n.created_at) for n in notes)]:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
