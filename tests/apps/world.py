"""A reproducible state for parity tests: a logged-in browser and seeded notes.

Both apps share the session (Redis) and the notes (one SQLite file). Before the
request goes to each app, the database is restored from a snapshot, so a
request that writes sees the same state on both sides.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from fastapi import FastAPI
from flask import Flask

from tests.apps.browser import Browser, login

SEED_NOTES = [
    (1, "alice", "Groceries", "milk, eggs & <bread>", "2026-01-02T03:04:05+00:00"),
    (2, "alice", "Ideas", "Port one route at a time.", "2026-01-03T03:04:05+00:00"),
    (3, "mallory", "Not yours", "secret", "2026-01-04T03:04:05+00:00"),
]


class World:
    """One browser (logged in as alice unless anonymous) and a restorable database."""

    def __init__(
        self,
        flask_app: Flask,
        fastapi_app: FastAPI,
        db_path: Path,
        *,
        anonymous: bool = False,
        raise_server_exceptions: bool = True,
    ) -> None:
        self.flask_app = flask_app
        self.fastapi_app = fastapi_app
        self.db_path = db_path
        self.snapshot = db_path.with_suffix(".seed")
        with closing(sqlite3.connect(db_path)) as db, db:
            db.executemany(
                "INSERT INTO notes (id, owner, title, body, created_at) VALUES (?, ?, ?, ?, ?)",
                SEED_NOTES,
            )
        shutil.copyfile(db_path, self.snapshot)
        self.browser = Browser(
            flask_app, fastapi_app, raise_server_exceptions=raise_server_exceptions
        )
        if not anonymous:
            self.login()

    def login(self) -> None:
        """Log in as alice (through the Flask app) and read the page that shows the flash."""
        login(self.browser, start="flask")
        self.browser.get("flask", "/")

    def restore(self) -> None:
        """Put the notes database back to its seeded state."""
        shutil.copyfile(self.snapshot, self.db_path)

    def note_titles(self) -> list[str]:
        """Every stored note's title (to check that nothing was written)."""
        with closing(sqlite3.connect(self.db_path)) as db:
            return [row[0] for row in db.execute("SELECT title FROM notes ORDER BY id")]

    def close(self) -> None:
        """Close the browser."""
        self.browser.close()
