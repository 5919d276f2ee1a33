"""The HTML pages: home, notes (form + CSRF + flash), CSV export, upload."""

from __future__ import annotations

import hashlib

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from legacy_flask.access import current_sub, requires_auth
from legacy_flask.assets import BLUEPRINT_TEMPLATE_FOLDERS
from legacy_flask.csrf import csrf_protected
from notes_core.notes import NoteIn, NotesStore, csv_rows, validation_problems

bp = Blueprint("webapp", __name__, template_folder=BLUEPRINT_TEMPLATE_FOLDERS["webapp"])

UPLOAD_CHUNK = 64 * 1024


def notes_store() -> NotesStore:
    """The app's notes store."""
    return current_app.extensions["notes_store"]


@bp.get("/")
def index() -> ResponseReturnValue:
    """The home page."""
    return render_template("webapp/index.html")


@bp.get("/home")
def home() -> ResponseReturnValue:
    """Old address of the home page."""
    return redirect(url_for("webapp.index"), 301)


@bp.get("/notes")
@requires_auth
def notes() -> ResponseReturnValue:
    """The user's notes and the form that creates one."""
    return render_template(
        "webapp/notes.html", notes=notes_store().list_for(current_sub()), problems=[], form={}
    )


@bp.post("/notes")
@requires_auth
@csrf_protected
def create_note() -> ResponseReturnValue:
    """Create a note from the form; 400 with the form and its problems when invalid."""
    form = {"title": request.form.get("title", ""), "body": request.form.get("body", "")}
    try:
        note_in = NoteIn.model_validate(form)
    except ValidationError as error:
        page = render_template(
            "webapp/notes.html",
            notes=notes_store().list_for(current_sub()),
            problems=validation_problems(error),
            form=form,
        )
        return page, 400
    note = notes_store().create(current_sub(), note_in)
    flash(f"Note “{note.title}” saved.", "success")
    return redirect(url_for("webapp.notes"))


@bp.get("/notes/<int:note_id>")
@requires_auth
def note(note_id: int) -> ResponseReturnValue:
    """One note."""
    found = notes_store().get(current_sub(), note_id)
    if found is None:
        abort(404)
    return render_template("webapp/note.html", note=found)


@bp.post("/notes/<int:note_id>/delete")
@requires_auth
@csrf_protected
def delete_note(note_id: int) -> ResponseReturnValue:
    """Delete a note from the form."""
    if not notes_store().delete(current_sub(), note_id):
        abort(404)
    flash("Note deleted.", "info")
    return redirect(url_for("webapp.notes"))


@bp.get("/notes/export.csv")
@requires_auth
def export_notes() -> ResponseReturnValue:
    """Stream the user's notes as a CSV download (a generator response)."""
    rows = csv_rows(notes_store().iter_for(current_sub()))
    return Response(
        rows,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="notes.csv"'},
    )


@bp.get("/upload")
@requires_auth
def upload_form() -> ResponseReturnValue:
    """The upload form."""
    return render_template("webapp/upload.html")


@bp.post("/upload")
@requires_auth
@csrf_protected
def upload() -> ResponseReturnValue:
    """Receive one file (multipart field ``file``) and report its size and SHA-256."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        abort(400, description="Choose a file to upload (form field “file”).")
    digest = hashlib.sha256()
    size = 0
    while chunk := upload.stream.read(UPLOAD_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return render_template(
        "webapp/upload_result.html", filename=upload.filename, size=size, sha256=digest.hexdigest()
    )
