"""The OpenID Connect client (authlib's Flask integration), configured from settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app

from notes_core.settings import AppSettings

# Same name on both apps: authlib keys the login state in the session by it.
CLIENT_NAME = "oidc"
PROVIDER_UNREACHABLE = "The sign-in service cannot be reached right now. Try again in a minute."


def init_oidc(app: Flask, settings: AppSettings) -> OAuth:
    """Register the OIDC client on ``app`` (any provider: Auth0, Keycloak, the mock...)."""
    oauth = OAuth(app)
    oauth.register(
        name=CLIENT_NAME,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        server_metadata_url=settings.server_metadata_url,
        client_kwargs={"scope": settings.oidc_scope},
    )
    return oauth


def oidc_client() -> Any:
    """The registered client of the current app."""
    oauth: OAuth = current_app.extensions["authlib.integrations.flask_client"]
    return oauth.create_client(CLIENT_NAME)


def end_session_url(post_logout_redirect_uri: str, id_token: str | None) -> str | None:
    """RP-initiated logout URL at the provider, or None when it has no end_session_endpoint.

    A provider that cannot be reached also gives None: the local logout already happened.
    """
    client = oidc_client()
    try:
        metadata = client.load_server_metadata()
    except requests.RequestException:
        current_app.logger.warning("OpenID provider unreachable; logging out locally only")
        return None
    endpoint = metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    params = {"client_id": client.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(params)}"
