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

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-set-SECRET_KEY-in-production"
# The CLI of oidc-provider-mock listens here by default (`oidc-provider-mock --port 9400`).
DEVELOPMENT_ISSUER = "http://localhost:9400"


class AppSettings(BaseSettings):
    """Everything the app reads from its environment."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
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
        return [key.get_secret_value() for key in [*self.secret_key_fallbacks, self.secret_key]]


def load_settings(config: Mapping[str, Any] | None = None) -> AppSettings:
    """Settings from the environment, overridden by the known keys of ``config``."""
    overrides = {
        key.lower(): value
        for key, value in (config or {}).items()
        if key.lower() in AppSettings.model_fields
    }
    return AppSettings(**overrides)
