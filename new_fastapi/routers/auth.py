"""Login, callback, logout and profile: OpenID Connect with authlib's Starlette client."""

from __future__ import annotations

from authlib.integrations.base_client import OAuthError
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from flask_compat import render_template, url_for
from new_fastapi.access import ID_TOKEN_KEY, USER_KEY, current_user
from new_fastapi.dependencies import UserSub
from new_fastapi.oidc import (
    PROVIDER_UNREACHABLE,
    ProviderHTTPError,
    end_session_url,
    oidc_client,
)
from new_fastapi.routes import FlaskStyleRoute
from shared_session import flash

router = APIRouter(route_class=FlaskStyleRoute)


@router.get("/login", name="auth.login")
async def login(request: Request) -> Response:
    """Send the browser to the provider; it comes back to /callback."""
    redirect_uri = url_for(request, "auth.callback", _external=True)
    try:
        return await oidc_client(request).authorize_redirect(request, redirect_uri)
    except ProviderHTTPError as error:
        raise HTTPException(503, detail=PROVIDER_UNREACHABLE) from error


@router.get("/callback", name="auth.callback")
async def callback(request: Request) -> Response:
    """Finish the code flow, store the user's claims under a fresh session id."""
    try:
        token = await oidc_client(request).authorize_access_token(request)
    except OAuthError as error:
        raise HTTPException(
            400, detail=f"Sign-in failed: {(error.description or error.error).rstrip('.')}."
        ) from error
    except ProviderHTTPError as error:
        raise HTTPException(503, detail=PROVIDER_UNREACHABLE) from error
    # A new id at login defeats session fixation; the data moves along.
    request.session.regenerate()
    request.session[USER_KEY] = dict(token["userinfo"])
    request.session[ID_TOKEN_KEY] = token.get("id_token")
    user = current_user(request) or {}
    flash(request.session, f"Signed in as {user.get('email') or user.get('sub')}.", "success")
    return RedirectResponse(url_for(request, "webapp.index"), 302)


@router.get("/logout", name="auth.logout")
async def logout(request: Request) -> Response:
    """Drop the session on both apps, then end the provider's session if it supports it."""
    id_token = request.session.get(ID_TOKEN_KEY)
    request.session.clear()
    home = url_for(request, "webapp.index", _external=True)
    target = await end_session_url(request, home, id_token)
    return RedirectResponse(target or url_for(request, "webapp.index"), 302)


@router.get("/profile", name="auth.profile")
def profile(request: Request, sub: UserSub) -> Response:
    """The user's claims, pretty-printed with the ``to_pretty_json`` filter."""
    return render_template(request, "auth/profile.html", user=current_user(request))
