"""Redis URLs: which topology each form names, errors that say what to write,
and the forms the docs show."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.flagstore.redis import RedisFlagStore
from gateway.settings import GatewaySettings
from shared_session import SessionSettings, SessionStoreUnavailable
from shared_session.redis_connect import (
    REDIS_ERRORS,
    RedisTarget,
    describe_redis_error,
    describe_redis_url,
    parse_redis_url,
    sync_client,
)
from shared_session.store.redis import AsyncRedisStore, RedisStore
from tests.redis_server import free_port

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", RedisTarget("server", "redis://127.0.0.1:6379/0")),
        ("unix:///run/redis.sock?db=2", RedisTarget("server", "unix:///run/redis.sock?db=2")),
        (
            "redis+sentinel://10.0.0.5:26379,10.0.0.6:26380/mymaster",
            RedisTarget(
                "sentinel",
                "redis+sentinel://10.0.0.5:26379,10.0.0.6:26380/mymaster",
                (("10.0.0.5", 26379), ("10.0.0.6", 26380)),
                "mymaster",
                0,
            ),
        ),
        (
            "redis+sentinel://app:p%40ss@[::1]:26379/cache/3",
            RedisTarget(
                "sentinel",
                "redis+sentinel://app:p%40ss@[::1]:26379/cache/3",
                (("::1", 26379),),
                "cache",
                3,
                "app",
                "p@ss",
            ),
        ),
        (
            "redis+cluster://:secret@h1:7000,h2:7001",
            RedisTarget(
                "cluster",
                "redis+cluster://:secret@h1:7000,h2:7001",
                (("h1", 7000), ("h2", 7001)),
                None,
                0,
                None,
                "secret",
            ),
        ),
    ],
)
def test_each_url_form_names_its_topology(url: str, expected: RedisTarget) -> None:
    assert parse_redis_url(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinal://:pw@h:1/m", "expected redis://"),
        ("http://h:1", "expected redis://"),
        ("redis+sentinel://:pw@h:26379", "names the service"),
        ("redis+sentinel://:pw@h:26379/m/x", "must be a number"),
        ("redis+cluster://:pw@h:7000/2", "only database 0"),
        ("redis+cluster://:pw@h", "expected host:port"),
        ("redis+cluster://:pw@h:7000?ssl=true", "no query string"),
    ],
)
def test_a_bad_url_is_refused_with_what_to_write_and_without_the_password(
    url: str, says: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(says)) as caught:
        parse_redis_url(url)
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize("settings_class", [SessionSettings, GatewaySettings])
def test_settings_refuse_a_bad_redis_url_at_start_without_showing_it(
    settings_class: type[SessionSettings] | type[GatewaySettings],
) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_class(redis_url="redis+cluster://:hunter2@h:7000/1")
    assert "only database 0" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_describe_hides_the_password() -> None:
    assert describe_redis_url("redis+sentinel://u:pw@h:1/m") == "redis+sentinel://u:***@h:1/m"
    assert describe_redis_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert describe_redis_url("redis://h:1/0") == "redis://h:1/0"


def test_every_sentinel_and_cluster_url_in_the_docs_parses() -> None:
    found = []
    for name in ("shared-session.md", "gateway.md"):
        text = (DOCS / name).read_text()
        found += re.findall(r"redis\+(?:sentinel|cluster)://[^\s`|)]+", text)
    assert len(found) >= 4
    for url in found:
        parse_redis_url(url)


@pytest.mark.parametrize("scheme", ["redis+cluster", "redis+sentinel"])
def test_an_unreachable_cluster_or_sentinel_set_is_a_503_not_a_crash(scheme: str) -> None:
    url = f"{scheme}://127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    url += "/mymaster" if scheme == "redis+sentinel" else ""
    client = sync_client(url, timeout=0.2)  # connects lazily: no error yet
    with pytest.raises(REDIS_ERRORS):
        client.get("x")
    settings = SessionSettings(redis_url=url, secret_keys=["k"], timeout=0.2)
    with pytest.raises(SessionStoreUnavailable):
        RedisStore(settings).load("a" * 43)

    async def load_async() -> None:
        store = AsyncRedisStore(settings)
        started = time.monotonic()
        with pytest.raises(SessionStoreUnavailable):
            await store.load("a" * 43)
        assert time.monotonic() - started < 1.0
        await store.aclose()

    asyncio.run(load_async())


@pytest.mark.parametrize("scheme", ["redis+cluster", "redis+sentinel"])
def test_flags_on_an_unreachable_cluster_or_sentinel_set_log_the_outage_once(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Started with no node reachable, the flag store serves its defaults and
    says so once; its listener's retries are the same outage (redis-py's
    cluster client raises KeyError then), not a traceback every retry."""
    url = f"{scheme}://127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    url += "/mymaster" if scheme == "redis+sentinel" else ""

    async def run() -> None:
        store = RedisFlagStore(url, flag_key="t:flags", channel="t:flags", poll_interval=0.05)
        await store.start()
        await asyncio.sleep(1.0)  # about 20 retries of the listener and the poll
        assert not store.connected
        await store.aclose()

    with caplog.at_level(logging.INFO, logger="gateway"):
        asyncio.run(run())
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in errors if r.exc_info], [r.getMessage() for r in errors]
    for record in errors:  # short, and without redis-py's object reprs (2 KB for Sentinel)
        assert len(record.getMessage()) < 500 and "<redis" not in record.getMessage(), record
    assert len([r for r in errors if "flag store unreachable" in r.getMessage()]) == 1, [
        r.getMessage() for r in errors
    ]


def test_a_redis_error_is_described_without_object_reprs() -> None:
    url = f"redis+sentinel://:pw@127.0.0.1:{free_port()},127.0.0.1:{free_port()}/mymaster/0"
    client = sync_client(url, timeout=0.2)
    with pytest.raises(REDIS_ERRORS) as caught:
        client.get("x")
    assert len(str(caught.value)) > 1000  # redis-py's own text: its clients' reprs
    described = describe_redis_error(caught.value)
    assert described.startswith("No master found for 'mymaster'"), described
    assert "<" not in described and len(described) <= 300, described
    assert "pw" not in described
