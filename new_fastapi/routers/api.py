"""JSON API for notes: GET list/item, POST, DELETE, with JSON errors."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from new_fastapi.access import current_user, requires_auth
from new_fastapi.csrf import csrf_protected, csrf_token
from new_fastapi.dependencies import Notes, UserSub
from new_fastapi.routes import FlaskStyleRoute
from notes_core.errors import error_payload
from notes_core.notes import NoteIn, validation_problems

router = APIRouter(prefix="/api", route_class=FlaskStyleRoute)
protected = [Depends(requires_auth), Depends(csrf_protected)]


def is_json(content_type: str | None) -> bool:
    """Flask's ``request.is_json``: application/json or application/*+json."""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 415 for another content type, 400 if malformed."""
    if not is_json(request.headers.get("content-type")):
        raise HTTPException(415, detail="Send the note as JSON (Content-Type: application/json).")
    try:
        data = json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        data = None
    if not isinstance(data, dict):
        raise HTTPException(400, detail="The request body is not a JSON object.")
    return data


@router.get("/me", name="api.me")
def me(request: Request, sub: UserSub) -> Response:
    """The user's claims and the CSRF token to send in X-CSRF-Token."""
    return JSONResponse({"user": current_user(request), "csrf_token": csrf_token(request.session)})


@router.get("/notes", name="api.list_notes")
def list_notes(store: Notes, sub: UserSub) -> Response:
    """Every note of the user."""
    return JSONResponse({"notes": [note.as_json() for note in store.list_for(sub)]})


@router.post("/notes", name="api.create_note", dependencies=protected)
async def create_note(request: Request, store: Notes, sub: UserSub) -> Response:
    """Create a note from ``{"title": ..., "body": ...}``; 201 with the note."""
    try:
        note_in = NoteIn.model_validate(await json_object(request))
    except ValidationError as error:
        payload = error_payload(400, "The note is not valid.", problems=validation_problems(error))
        return JSONResponse(payload, 400)
    return JSONResponse(store.create(sub, note_in).as_json(), 201)


@router.get("/notes/{note_id:int}", name="api.get_note")
def get_note(note_id: int, store: Notes, sub: UserSub) -> Response:
    """One note, 404 if the user has no such note."""
    note = store.get(sub, note_id)
    if note is None:
        raise HTTPException(404, detail=f"There is no note {note_id}.")
    return JSONResponse(note.as_json())


@router.delete("/notes/{note_id:int}", name="api.delete_note", dependencies=protected)
def delete_note(note_id: int, store: Notes, sub: UserSub) -> Response:
    """Delete a note: 204, or 404 if the user has no such note."""
    if not store.delete(sub, note_id):
        raise HTTPException(404, detail=f"There is no note {note_id}.")
    return Response(status_code=204)
