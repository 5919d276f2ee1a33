"""Dependencies that hand routes the app's shared objects (kept on ``app.state``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from new_fastapi.access import requires_auth
from notes_core.notes import NotesStore


def notes_store(request: Request) -> NotesStore:
    """The app's notes store."""
    return request.app.state.notes_store


Notes = Annotated[NotesStore, Depends(notes_store)]
# The logged-in user's sub; anonymous users are redirected to /login (401 on the API).
UserSub = Annotated[str, Depends(requires_auth)]
