"""The HTML pages: home, notes (form + CSRF + flash), CSV export, upload."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from flask_compat import render_template, url_for
from new_fastapi.access import requires_auth
from new_fastapi.csrf import csrf_protected
from new_fastapi.dependencies import Notes, UserSub
from new_fastapi.routes import FlaskStyleRoute
from notes_core.notes import NoteIn, csv_rows, validation_problems
from shared_session import flash

router = APIRouter(route_class=FlaskStyleRoute)
# Order matters as in Flask's blueprint decorators: log-in check first, then CSRF.
protected = [Depends(requires_auth), Depends(csrf_protected)]

UPLOAD_CHUNK = 64 * 1024


def redirect_to(request: Request, endpoint: str, status_code: int = 302) -> RedirectResponse:
    """A redirect to a Flask-style endpoint name (relative URL, as Flask sends)."""
    return RedirectResponse(url_for(request, endpoint), status_code)


@router.get("/", name="webapp.index")
def index(request: Request) -> Response:
    """The home page."""
    return render_template(request, "webapp/index.html")


@router.get("/home", name="webapp.home")
def home(request: Request) -> Response:
    """Old address of the home page."""
    return redirect_to(request, "webapp.index", 301)


@router.get("/notes", name="webapp.notes")
def notes(request: Request, store: Notes, sub: UserSub) -> Response:
    """The user's notes and the form that creates one."""
    return render_template(
        request, "webapp/notes.html", notes=store.list_for(sub), problems=[], form={}
    )


@router.post("/notes", name="webapp.create_note", dependencies=protected)
async def create_note(request: Request, store: Notes, sub: UserSub) -> Response:
    """Create a note from the form; 400 with the form and its problems when invalid."""
    data = await request.form()
    # Like Flask's request.form: text fields only (a file under that name is not text).
    form = {
        key: value if isinstance(value := data.get(key, ""), str) else ""
        for key in ("title", "body")
    }
    try:
        note_in = NoteIn.model_validate(form)
    except ValidationError as error:
        page = render_template(
            request,
            "webapp/notes.html",
            notes=store.list_for(sub),
            problems=validation_problems(error),
            form=form,
        )
        page.status_code = 400
        return page
    note = store.create(sub, note_in)
    flash(request.session, f"Note “{note.title}” saved.", "success")
    return redirect_to(request, "webapp.notes")


@router.get("/notes/export.csv", name="webapp.export_notes")
def export_notes(store: Notes, sub: UserSub) -> Response:
    """Stream the user's notes as a CSV download (a generator response)."""
    return StreamingResponse(
        csv_rows(store.iter_for(sub)),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="notes.csv"'},
    )


@router.get("/notes/{note_id:int}", name="webapp.note")
def note(request: Request, note_id: int, store: Notes, sub: UserSub) -> Response:
    """One note."""
    found = store.get(sub, note_id)
    if found is None:
        raise HTTPException(404)
    return render_template(request, "webapp/note.html", note=found)


@router.post("/notes/{note_id:int}/delete", name="webapp.delete_note", dependencies=protected)
def delete_note(request: Request, note_id: int, store: Notes, sub: UserSub) -> Response:
    """Delete a note from the form."""
    if not store.delete(sub, note_id):
        raise HTTPException(404)
    flash(request.session, "Note deleted.", "info")
    return redirect_to(request, "webapp.notes")


@router.get("/upload", name="webapp.upload_form", dependencies=[Depends(requires_auth)])
def upload_form(request: Request) -> Response:
    """The upload form."""
    return render_template(request, "webapp/upload.html")


@router.post("/upload", name="webapp.upload", dependencies=protected)
async def upload(request: Request) -> Response:
    """Receive one file (multipart field ``file``) and report its size and SHA-256."""
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise HTTPException(400, detail="Choose a file to upload (form field “file”).")
    digest = hashlib.sha256()
    size = 0
    while chunk := await upload.read(UPLOAD_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return render_template(
        request,
        "webapp/upload_result.html",
        filename=upload.filename,
        size=size,
        sha256=digest.hexdigest(),
    )
