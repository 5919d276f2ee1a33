"""Login, callback, logout and profile: OpenID Connect with authlib's Flask client."""

from __future__ import annotations

import requests
from authlib.integrations.base_client import OAuthError
from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

from legacy_flask.access import ID_TOKEN_KEY, USER_KEY, current_user, requires_auth
from legacy_flask.assets import BLUEPRINT_TEMPLATE_FOLDERS
from legacy_flask.oidc import PROVIDER_UNREACHABLE, end_session_url, oidc_client

bp = Blueprint("auth", __name__, template_folder=BLUEPRINT_TEMPLATE_FOLDERS["auth"])


@bp.get("/login")
def login() -> ResponseReturnValue:
    """Send the browser to the provider; it comes back to /callback."""
    try:
        return oidc_client().authorize_redirect(url_for("auth.callback", _external=True))
    except requests.RequestException:
        abort(503, description=PROVIDER_UNREACHABLE)


@bp.get("/callback")
def callback() -> ResponseReturnValue:
    """Finish the code flow, store the user's claims under a fresh session id."""
    try:
        token = oidc_client().authorize_access_token()
    except OAuthError as error:
        abort(400, description=f"Sign-in failed: {(error.description or error.error).rstrip('.')}.")
    except requests.RequestException:
        abort(503, description=PROVIDER_UNREACHABLE)
    # A new id at login defeats session fixation; the data moves along.
    session.regenerate()
    session[USER_KEY] = dict(token["userinfo"])
    session[ID_TOKEN_KEY] = token.get("id_token")
    user = current_user() or {}
    flash(f"Signed in as {user.get('email') or user.get('sub')}.", "success")
    return redirect(url_for("webapp.index"))


@bp.get("/logout")
def logout() -> ResponseReturnValue:
    """Drop the session on both apps, then end the provider's session if it supports it."""
    id_token = session.get(ID_TOKEN_KEY)
    session.clear()
    home = url_for("webapp.index", _external=True)
    return redirect(end_session_url(home, id_token) or url_for("webapp.index"))


@bp.get("/profile")
@requires_auth
def profile() -> ResponseReturnValue:
    """The user's claims, pretty-printed with the ``to_pretty_json`` filter."""
    return render_template("auth/profile.html", user=current_user())
