"""SessionSettings helpers both apps rely on."""

from __future__ import annotations

from shared_session import SessionSettings


def test_default_keys_apply_only_when_the_settings_name_none() -> None:
    bare = SessionSettings(redis_url=None)
    assert bare.with_default_keys(["old", "new"]).keys() == ["old", "new"]
    assert bare.keys() == []  # the original is unchanged
    configured = SessionSettings(redis_url=None, secret_keys=["own"])
    assert configured.with_default_keys(["old", "new"]).keys() == ["own"]
