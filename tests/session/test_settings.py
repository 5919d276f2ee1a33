"""SessionSettings helpers both apps rely on."""

from __future__ import annotations

import pytest

from shared_session import SessionSettings


def test_default_keys_apply_only_when_the_settings_name_none() -> None:
    bare = SessionSettings(redis_url=None)
    assert bare.with_default_keys(["old", "new"]).keys() == ["old", "new"]
    assert bare.keys() == []  # the original is unchanged
    configured = SessionSettings(redis_url=None, secret_keys=["own"])
    assert configured.with_default_keys(["old", "new"]).keys() == ["own"]


def test_shared_session_redis_url_wins_over_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://generic:6379/0")
    assert SessionSettings().redis_url == "redis://generic:6379/0"
    monkeypatch.setenv("SHARED_SESSION_REDIS_URL", "redis://sessions:6379/1")
    assert SessionSettings().redis_url == "redis://sessions:6379/1"
    # An explicit argument wins over both, also in a copy.
    explicit = SessionSettings(redis_url="redis://explicit:6379/2")
    assert explicit.redis_url == "redis://explicit:6379/2"
    assert explicit.with_changes(key_prefix="x:").redis_url == "redis://explicit:6379/2"


def test_pool_and_timeout_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = SessionSettings()
    assert (defaults.pool_size, defaults.pool_timeout, defaults.timeout) == (50, 5.0, 2.0)
    monkeypatch.setenv("SHARED_SESSION_POOL_SIZE", "8")
    monkeypatch.setenv("SHARED_SESSION_POOL_TIMEOUT", "1.5")
    monkeypatch.setenv("SHARED_SESSION_TIMEOUT", "0.25")
    settings = SessionSettings()
    assert (settings.pool_size, settings.pool_timeout, settings.timeout) == (8, 1.5, 0.25)
