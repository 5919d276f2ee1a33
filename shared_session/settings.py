"""Configuration of the shared session, read once at start-up.

Both frameworks read the same settings, so the cookie and the store are
configured in one place. Every field can be set from the environment with
the prefix ``SHARED_SESSION_`` (for example ``SHARED_SESSION_REDIS_URL``;
lists are JSON: ``SHARED_SESSION_SECRET_KEYS='["old", "new"]'``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SessionSettings(BaseSettings):
    """Everything the session layer needs; pass one instance to both sides."""

    model_config = SettingsConfigDict(
        env_prefix="SHARED_SESSION_", extra="ignore", hide_input_in_errors=True
    )

    # Store. No URL means the in-memory store (one process, development only).
    # SHARED_SESSION_REDIS_URL wins over REDIS_URL; an explicit argument over both.
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SHARED_SESSION_REDIS_URL", "REDIS_URL", "redis_url"),
    )
    key_prefix: str = "ss:"
    # Each connect and each reply from Redis fails with SessionStoreUnavailable
    # after this long (one immediate retry on a fresh connection).
    timeout: float = Field(default=2.0, gt=0)
    # Connections per process and side. Past it, a request waits up to
    # pool_timeout seconds for a free connection, then answers 503.
    pool_size: int = Field(default=50, gt=0)
    pool_timeout: float = Field(default=5.0, gt=0)
    retry_after: int = Field(default=5, ge=1, description="Retry-After of the 503 page")

    # Signing. Newest key last: it signs, every key verifies (rotation).
    # Empty on the Flask side means SECRET_KEY_FALLBACKS + SECRET_KEY.
    secret_keys: list[SecretStr] = Field(default_factory=list)

    # Cookie, honoured by both sides.
    cookie_name: str = "ssid"
    cookie_domain: str | None = None
    cookie_path: str = "/"
    cookie_secure: bool | None = Field(
        default=None, description="None: Secure exactly when the request is https"
    )
    cookie_httponly: bool = True
    cookie_samesite: Literal["lax", "strict", "none"] | None = "lax"
    # CHIPS: the cookie is kept per top-level site (an app embedded in an
    # iframe elsewhere). Implies Secure.
    cookie_partitioned: bool = False
    # A persistent cookie lives as long as the absolute lifetime; otherwise
    # it ends with the browser session. session["_permanent"] (Flask's
    # session.permanent), when set by either side, decides instead.
    cookie_persistent: bool = True

    # Expiry, in seconds: sliding idle timeout and absolute lifetime.
    idle_timeout: int = Field(default=7 * 24 * 3600, gt=0)
    absolute_lifetime: int = Field(default=31 * 24 * 3600, gt=0)

    # Limits.
    max_session_bytes: int = Field(default=64 * 1024, gt=0)
    max_cookie_bytes: int = Field(default=4096, gt=0)

    # Taking over sessions that browsers still carry from before.
    takeover_flask: bool = True
    flask_cookie_name: str = "session"
    # Empty: the Flask app's SECRET_KEY_FALLBACKS + SECRET_KEY, else secret_keys.
    flask_secret_keys: list[SecretStr] = Field(default_factory=list)
    flask_max_age: int = 31 * 24 * 3600
    takeover_starlette: bool = True
    starlette_cookie_name: str = "session"
    # Empty: secret_keys. Starlette uses only one key; several are all tried.
    starlette_secret_keys: list[SecretStr] = Field(default_factory=list)
    starlette_max_age: int = 14 * 24 * 3600

    @field_validator("redis_url")
    @classmethod
    def _known_redis_url(cls, value: str | None) -> str | None:
        if value:
            from shared_session.redis_connect import parse_redis_url

            parse_redis_url(value)  # ValueError says which forms are accepted
        return value

    def with_changes(self, **changes: object) -> SessionSettings:
        """A validated copy with some fields changed."""
        return type(self).model_validate({**self.model_dump(), **changes})

    def with_default_keys(self, keys: list[str]) -> SessionSettings:
        """These settings, signed with ``keys`` (newest last) if they name none.

        How an app shares its own SECRET_KEY (+ fallbacks) with the session.
        """
        return self if self.secret_keys else self.with_changes(secret_keys=keys)

    def keys(self) -> list[str]:
        """The plain signing keys, newest last."""
        return [key.get_secret_value() for key in self.secret_keys]
