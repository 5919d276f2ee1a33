"""Settings of both reference apps, read once by each ``create_app`` and passed down.

Every field comes from the environment under its upper-case name (``SECRET_KEY``,
``NOTES_DB_PATH``, ``OIDC_ISSUER``, ``AUTH0_DOMAIN``...), or from the ``config``
mapping given to ``create_app`` (same names), which wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The CLI of oidc-provider-mock listens here by default (`oidc-provider-mock --port 9400`).
DEVELOPMENT_ISSUER = "http://localhost:9400"


class AppSettings(BaseSettings):
    """Everything the app reads from its environment."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    # No default: a key in the source would be public. The development stack
    # (``make run``) generates one; every other start must configure it.
    secret_key: SecretStr | None = None
    # Older keys that still verify sessions (rotation), oldest first.
    secret_key_fallbacks: list[SecretStr] = Field(default_factory=list)
    notes_db_path: Path = Path("var/notes.sqlite3")
    max_content_length: int = Field(default=16 * 1024 * 1024, gt=0)

    # OpenID Connect: an issuer URL, or an Auth0 domain that implies one.
    oidc_issuer: str | None = None
    auth0_domain: str | None = None
    oidc_client_id: str = "notes-app"
    oidc_client_secret: SecretStr = SecretStr("development-client-secret")
    oidc_scope: str = "openid profile email"

    @property
    def issuer(self) -> str:
        """The OpenID provider's issuer URL (Auth0: ``https://DOMAIN/``)."""
        if self.oidc_issuer:
            return self.oidc_issuer
        if self.auth0_domain:
            return f"https://{self.auth0_domain}/"
        return DEVELOPMENT_ISSUER

    @property
    def server_metadata_url(self) -> str:
        """The provider's discovery document."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def signing_keys(self) -> list[str]:
        """SECRET_KEY_FALLBACKS + SECRET_KEY as plain strings, newest last."""
        assert self.secret_key is not None, "load_settings() refuses settings without a key"
        return [key.get_secret_value() for key in [*self.secret_key_fallbacks, self.secret_key]]


class SettingsError(Exception):
    """The app cannot start with these settings; the message says what to set."""


def load_settings(config: Mapping[str, Any] | None = None) -> AppSettings:
    """Settings from the environment, overridden by the known keys of ``config``.

    Raises SettingsError when SECRET_KEY is missing or empty: without it every
    cookie would be signed with a key anyone could read.
    """
    overrides = {
        key.lower(): value
        for key, value in (config or {}).items()
        if key.lower() in AppSettings.model_fields
    }
    settings = AppSettings(**overrides)
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        raise SettingsError(
            "SECRET_KEY is not set: set it to a long random value, e.g. "
            "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))'). "
            "`make run` (the development stack) generates one for you."
        )
    return settings
