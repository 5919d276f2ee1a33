"""Gateway configuration: environment (prefix ``GATEWAY_``) and an optional
TOML or YAML file named by ``GATEWAY_CONFIG_FILE``; the environment wins.

Read once at start-up and passed down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class GatewaySettings(BaseSettings):
    """Everything the gateway needs to know; see docs/gateway.md."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="forbid")

    # Where the apps come from. Exactly one of legacy_app / legacy_upstream.
    legacy_app: str | None = "legacy_flask:create_app()"
    legacy_upstream: str | None = None
    new_app: str = "new_fastapi:create_app()"
    # With legacy_upstream, the legacy routes still come from a url_map: the
    # import string of the same Flask app (loaded only to read its routes).
    legacy_url_map: str | None = None

    # Flags: initial table (route endpoint or group name -> "legacy", "new",
    # "shadow", "canary 12.5"), groups of endpoints that move together.
    redis_url: str | None = Field(default=None)
    flags: dict[str, str] = Field(default_factory=dict)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    default_flag: str = "legacy"
    flag_channel: str = "gateway:flags"
    # Redis keys: the hash of flags is flag_key, its version counter flag_key + ":version".
    flag_key: str = "gateway:flagtable"
    flag_poll_interval: float = Field(default=0.5, gt=0)
    flag_cache_path: Path | None = Path("var/gateway-flags.json")

    # Admin API and staff override.
    admin_prefix: str = "/_gateway"
    admin_token: SecretStr | None = None
    override_secret: SecretStr | None = None
    override_header: str = "X-Gateway-Force"
    override_cookie: str = "gw_force"
    bucket_cookie: str = "gw_bucket"
    bucket_cookie_secure: bool = False

    # In-process WSGI backend.
    wsgi_threads: int = Field(default=16, ge=1)
    legacy_timeout: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=0)

    # HTTP upstream backend.
    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    upstream_read_timeout: float = Field(default=30.0, gt=0)
    upstream_max_connections: int = Field(default=100, ge=1)
    # Send the client's Host upstream (the legacy app then builds public URLs, e.g.
    # the OIDC redirect_uri); False sends the upstream's own host name instead.
    upstream_preserve_host: bool = True

    # Shadow traffic.
    shadow_methods: list[str] = Field(default_factory=lambda: ["GET", "HEAD"])
    shadow_queue_size: int = Field(default=100, ge=1)
    shadow_timeout: float = Field(default=5.0, gt=0)
    shadow_max_body_bytes: int = Field(default=1024 * 1024, ge=0)

    # Fallback: endpoints (or groups) whose failed GETs on the new app are
    # answered by the legacy app instead.
    fallback: list[str] = Field(default_factory=list)

    request_id_header: str = "X-Request-ID"

    @model_validator(mode="after")
    def _one_legacy_source(self) -> GatewaySettings:
        if self.legacy_upstream:
            self.legacy_app = None
        if not self.legacy_app and not self.legacy_upstream:
            raise ValueError(
                "set GATEWAY_LEGACY_APP (import string) or GATEWAY_LEGACY_UPSTREAM (URL)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_source = InitSettingsSource(settings_cls, init_kwargs=_read_config_file())
        return (init_settings, env_settings, file_source)


def _read_config_file() -> dict[str, Any]:
    """The mapping in GATEWAY_CONFIG_FILE (TOML or YAML), or {} when unset."""
    name = os.environ.get("GATEWAY_CONFIG_FILE")
    if not name:
        return {}
    path = Path(name)
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings at the top level")
    section = data.get("gateway", data)
    return dict(section)
