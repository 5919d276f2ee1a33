"""The auth blueprint, its users in a module-level dict."""

from flask import Blueprint, g, jsonify, redirect, request, session, url_for

bp = Blueprint("auth", __name__, url_prefix="/auth")

USERS = {"alice": "wonderland"}


@bp.route("/login", methods=["POST"])
def login():
    username = request.form["username"]
    if USERS.get(username) != request.form["password"]:
        return jsonify({"error": "bad credentials"})
    session["user"] = username
    return redirect(url_for("auth.whoami"))


@bp.route("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.whoami"))


@bp.route("/whoami")
def whoami():
    return jsonify({"user": g.user, "known": len(USERS)})
