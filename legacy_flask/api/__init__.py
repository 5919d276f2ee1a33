"""JSON API for notes: GET list/item, POST, DELETE, with JSON errors."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from legacy_flask.access import current_sub, current_user, requires_auth
from legacy_flask.csrf import csrf_protected, csrf_token
from notes_core.errors import error_payload
from notes_core.notes import NoteIn, NotesStore, validation_problems

bp = Blueprint("api", __name__, url_prefix="/api")


def notes_store() -> NotesStore:
    """The app's notes store."""
    return current_app.extensions["notes_store"]


def json_object() -> dict[str, Any]:
    """The request body as a JSON object; 415 for another content type, 400 if malformed."""
    if not request.is_json:
        abort(415, description="Send the note as JSON (Content-Type: application/json).")
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # Werkzeug silently cuts a chunked body at MAX_CONTENT_LENGTH; reading on
        # raises 413 (so a chunked body of exactly the limit is refused too).
        request.stream.read(1)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        data = None
    if not isinstance(data, dict):
        abort(400, description="The request body is not a JSON object.")
    return data


@bp.get("/me")
@requires_auth
def me() -> ResponseReturnValue:
    """The user's claims and the CSRF token to send in X-CSRF-Token."""
    return jsonify({"user": current_user(), "csrf_token": csrf_token()})


@bp.get("/notes")
@requires_auth
def list_notes() -> ResponseReturnValue:
    """Every note of the user."""
    return jsonify({"notes": [note.as_json() for note in notes_store().list_for(current_sub())]})


@bp.post("/notes")
@requires_auth
@csrf_protected
def create_note() -> ResponseReturnValue:
    """Create a note from ``{"title": ..., "body": ...}``; 201 with the note."""
    try:
        note_in = NoteIn.model_validate(json_object())
    except ValidationError as error:
        payload = error_payload(400, "The note is not valid.", problems=validation_problems(error))
        return jsonify(payload), 400
    note = notes_store().create(current_sub(), note_in)
    return jsonify(note.as_json()), 201


@bp.get("/notes/<int:note_id>")
@requires_auth
def get_note(note_id: int) -> ResponseReturnValue:
    """One note, 404 if the user has no such note."""
    note = notes_store().get(current_sub(), note_id)
    if note is None:
        abort(404, description=f"There is no note {note_id}.")
    return jsonify(note.as_json())


@bp.delete("/notes/<int:note_id>")
@requires_auth
@csrf_protected
def delete_note(note_id: int) -> ResponseReturnValue:
    """Delete a note: 204, or 404 if the user has no such note."""
    if not notes_store().delete(current_sub(), note_id):
        abort(404, description=f"There is no note {note_id}.")
    return "", 204
