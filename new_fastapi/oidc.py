"""The OpenID Connect client (authlib's Starlette integration), configured from settings."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth
from fastapi import Request

from notes_core.settings import AppSettings

try:
    # authlib's Starlette client uses httpx2 when it is installed, else httpx.
    from httpx2 import HTTPError as ProviderHTTPError
except ImportError:  # pragma: no cover
    from httpx import HTTPError as ProviderHTTPError

# Same name as legacy_flask: authlib keys the login state in the session by it.
CLIENT_NAME = "oidc"
PROVIDER_UNREACHABLE = "The sign-in service cannot be reached right now. Try again in a minute."
log = logging.getLogger(__name__)


def init_oidc(settings: AppSettings) -> OAuth:
    """An OAuth registry with the OIDC client (any provider: Auth0, Keycloak, the mock...)."""
    oauth = OAuth()
    oauth.register(
        name=CLIENT_NAME,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        server_metadata_url=settings.server_metadata_url,
        client_kwargs={"scope": settings.oidc_scope},
    )
    return oauth


def oidc_client(request: Request) -> Any:
    """The registered client of the app serving ``request``."""
    oauth: OAuth = request.app.state.oauth
    return oauth.create_client(CLIENT_NAME)


async def end_session_url(
    request: Request, post_logout_redirect_uri: str, id_token: str | None
) -> str | None:
    """RP-initiated logout URL at the provider, or None when it has no end_session_endpoint.

    A provider that cannot be reached also gives None: the local logout already happened.
    """
    client = oidc_client(request)
    try:
        metadata = await client.load_server_metadata()
    except ProviderHTTPError:
        log.warning("OpenID provider unreachable; logging out locally only")
        return None
    endpoint = metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    params = {"client_id": client.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(params)}"
