"""A Flask blueprint using each mechanical difference --convert rewrites, and one view it
cannot convert (request.files): the scaffold tests run the converted routes for real."""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    jsonify,
    redirect,
    render_template_string,
    request,
    session,
    url_for,
)

NOTES = {1: "first", 2: "second"}

notes = Blueprint("notes", __name__, url_prefix="/notes")


@notes.get("/search")
def search():
    """Search the notes."""
    q = request.args.get("q", "")
    limit = request.args.get("limit", 10, type=int)
    found = [n for n in NOTES.values() if q in n][:limit]
    return jsonify(query=q, found=found, visits=session.get("visits", 0))


@notes.get("/<int:note_id>")
def show(note_id):
    if note_id not in NOTES:
        abort(404, "no such note")
    session["visits"] = session.get("visits", 0) + 1
    return jsonify(NOTES[note_id])


@notes.post("/")
def create():
    title = request.form["title"]
    if not title.strip():
        abort(400)
    NOTES[len(NOTES) + 1] = title
    flash(f"Saved {title}.", "success")
    return redirect(url_for("notes.show", note_id=len(NOTES)))


@notes.route("/", defaults={"page": 1})
@notes.route("/page/<int:page>")
def listing(page):
    return jsonify(page=page, path=request.path, method=request.method)


@notes.post("/upload")
def upload():
    data = request.files["file"].read()
    return jsonify(size=len(data))


@notes.get("/plain")
def plain():
    return render_template_string("plain")


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "convertible-secret-0123456789"
    app.register_blueprint(notes)
    return app
