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
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from gateway.comparison import Normalisers
from shared_session.redis_connect import parse_redis_url


class GatewaySettings(BaseSettings):
    """Everything the gateway needs to know; see docs/gateway.md."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", extra="forbid", hide_input_in_errors=True
    )

    # Where the apps come from: no defaults, the gateway serves your apps, not a
    # demo. Exactly one of legacy_app / legacy_upstream, and new_app.
    legacy_app: str | None = None
    legacy_upstream: str | None = None
    new_app: str | None = None
    # With legacy_upstream, the legacy routes still come from a url_map: the
    # import string of the same Flask app (loaded only to read its routes).
    legacy_url_map: str | None = None
    # With legacy_upstream, or instead of legacy_url_map: the route table written by
    # `migrate-gateway export-routes` where the legacy app lives; nothing is imported.
    legacy_routes_file: Path | None = None
    # Import each app from its own directory, its top-level modules (auth, config...)
    # kept apart from the other app's (gateway/sourceroots.py).
    legacy_source_root: Path | None = None
    new_source_root: Path | None = None
    # Run the new app's lifespan (startup/shutdown) with the gateway's; a
    # failure stops the gateway. Off only for apps without lifespan support.
    new_app_lifespan: bool = True

    # Flags: initial table (route endpoint or group name -> "legacy", "new",
    # "shadow", "canary 12.5"), groups of endpoints that move together.
    # GATEWAY_REDIS_URL wins over REDIS_URL, the name the sessions read too.
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("GATEWAY_REDIS_URL", "REDIS_URL", "redis_url")
    )
    flags: dict[str, str] = Field(default_factory=dict)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    default_flag: str = "legacy"
    flag_channel: str = "gateway:flags"
    # Redis keys: the hash of flags is flag_key, its version counter flag_key + ":version".
    flag_key: str = "gateway:flagtable"
    flag_poll_interval: float = Field(default=0.5, gt=0)
    flag_cache_path: Path | None = Path("var/gateway-flags.json")

    # Admin API: closed unless a token is configured (or admin_open, which
    # answers loopback clients only: development). admin_tokens are
    # "name:token" pairs; the name is who an audit says flipped a route.
    admin_prefix: str = "/_gateway"
    admin_token: SecretStr | None = None
    admin_tokens: list[SecretStr] = Field(default_factory=list)
    admin_open: bool = False
    # "host:port": serve the admin API on its own listener; the public port
    # then answers only <admin_prefix>/health and <admin_prefix>/ready.
    admin_listen: str | None = None
    # Lifetime of a dashboard sign-in (its signed session cookie), in seconds.
    dashboard_session_seconds: int = Field(default=1800, ge=60, le=86400)

    # Graceful shutdown: after SIGTERM, <admin_prefix>/ready answers 503 and
    # responses ask clients to close their connection for this many seconds,
    # then the server stops accepting and finishes what is in flight.
    drain_seconds: float = Field(default=5.0, ge=0)

    # Staff override and canary buckets.
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
    # Share of eligible requests replayed (0..1): 0.1 replays one in ten.
    shadow_sample_rate: float = Field(default=1.0, ge=0, le=1)
    # Regular expressions whose matches are masked before comparing (each
    # becomes "<name>"), added to the defaults csrf, timestamp and request_id
    # (gateway/comparison.py); an empty pattern turns a default off.
    shadow_normalisers: dict[str, str | None] = Field(default_factory=dict)
    # Latest mismatches kept (with their diffs) and the size of each diff.
    shadow_samples: int = Field(default=20, ge=1, le=1000)
    shadow_diff_max_chars: int = Field(default=8000, ge=200)
    # Redis keys of the shared statistics: {<shadow_key>}:counts and :samples
    # (default: <flag_key>:shadow, so one flag_key per deployment keeps them apart).
    shadow_key: str | None = None

    # Fallback: endpoints (or groups) whose failed GETs on the new app are
    # answered by the legacy app instead.
    fallback: list[str] = Field(default_factory=list)

    request_id_header: str = "X-Request-ID"

    # Operator plane (docs/operator-guide.md). Its Redis keys sit beside the
    # flag table: <flag_key>:audit, {<flag_key>}:workers, :applied, :window:*, :guard.
    audit_max_entries: int = Field(default=10_000, ge=1)
    # Workers heartbeat as "<replica_name>:<pid>" (default: the host name).
    replica_name: str | None = None
    heartbeat_interval: float = Field(default=1.0, gt=0)
    worker_ttl: float = Field(default=5.0, gt=0)
    # A flip answers once every live worker applied it, or after this many
    # seconds naming those that did not (0: answer without waiting).
    flip_ack_timeout: float = Field(default=5.0, ge=0)

    # Prometheus metrics at <admin_prefix>/metrics. Under several workers they
    # are summed through files in metrics_dir (default: a directory per
    # server, named after its master process, under the system temp dir).
    metrics_enabled: bool = True
    metrics_dir: Path | None = None

    # Automatic rollback: a route on canary/new goes back to legacy when, over
    # the last rollback_window_seconds, the new app's 5xx rate exceeds the
    # legacy's by rollback_error_margin (or its p99 by
    # rollback_latency_margin_seconds), with rollback_min_requests on new.
    rollback_enabled: bool = True
    rollback_window_seconds: int = Field(default=30, ge=2, le=3600)
    rollback_min_requests: int = Field(default=20, ge=1)
    rollback_error_margin: float = Field(default=0.1, gt=0, le=1)
    rollback_latency_margin_seconds: float | None = Field(default=None, gt=0)
    rollback_check_interval: float = Field(default=1.0, gt=0, le=60)
    # Automatic promotion of canaries through these percentages (e.g.
    # [1, 5, 25, 100]), each held promotion_hold_seconds while healthy.
    promotion_steps: list[float] = Field(default_factory=list)
    promotion_hold_seconds: float = Field(default=300, gt=0)

    @model_validator(mode="after")
    def _one_legacy_source(self) -> GatewaySettings:
        if self.legacy_upstream:
            self.legacy_app = None
        if self.legacy_routes_file and (self.legacy_app or self.legacy_url_map):
            raise ValueError(
                "legacy_routes_file replaces legacy_url_map in upstream mode; with an "
                "in-process legacy_app the routes come from the app: set only one"
            )
        return self

    @field_validator("redis_url")
    @classmethod
    def _known_redis_url(cls, value: str | None) -> str | None:
        if value:
            parse_redis_url(value)  # ValueError says which forms are accepted
        return value

    @property
    def shadow_stats_key(self) -> str:
        """Prefix of the Redis keys of the shared shadow statistics."""
        return self.shadow_key or f"{self.flag_key}:shadow"

    @field_validator("shadow_normalisers")
    @classmethod
    def _patterns_compile(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        Normalisers.build(value)  # raises NormaliserError (a ValueError) naming the bad one
        return value

    @model_validator(mode="after")
    def _ttl_outlives_heartbeat(self) -> GatewaySettings:
        if self.worker_ttl <= self.heartbeat_interval:
            raise ValueError("worker_ttl must be longer than heartbeat_interval")
        return self

    @field_validator("promotion_steps")
    @classmethod
    def _steps(cls, value: list[float]) -> list[float]:
        if any(not 0 < step <= 100 for step in value) or value != sorted(set(value)):
            raise ValueError("promotion_steps must be increasing percentages in (0, 100]")
        return value

    @field_validator("admin_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            parse_host_port(value)
        return value

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


def config_file_name() -> str | None:
    """The settings file named by GATEWAY_CONFIG_FILE, if any (for messages)."""
    return os.environ.get("GATEWAY_CONFIG_FILE") or None


def _read_config_file() -> dict[str, Any]:
    """The mapping in GATEWAY_CONFIG_FILE (TOML or YAML), or {} when unset."""
    name = config_file_name()
    if not name:
        return {}
    path = Path(name)
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings at the top level")
    section = data.get("gateway", data)
    return dict(section)


def parse_host_port(value: str) -> tuple[str, int]:
    """``"127.0.0.1:8081"`` / ``"[::1]:8081"`` -> (host, port); raises ValueError."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port (e.g. 127.0.0.1:8081), got {value!r}")
    return host, int(port)
