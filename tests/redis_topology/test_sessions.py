"""The shared session on a real Redis Cluster and a real Sentinel set.

Every store script runs here: load, save (update, regenerate, clear), and
the takeover of a legacy cookie, from both the Flask and the FastAPI side.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from shared_session import SessionSettings
from shared_session.cookie import FAMILY_CHARS
from shared_session.redis_connect import sync_client
from shared_session.store.redis import marker_key, session_key
from tests.redis_topology.topology import PASSWORD, ClusterSet, SentinelSet
from tests.session.apps import make_asgi, make_flask
from tests.session.conftest import PAIRS, SIDES, Browser, make_settings
from tests.session.test_takeover import LEGACY_FLASK_KEY, legacy_flask_cookie


@pytest.fixture(params=["cluster", "sentinel"])
def topology(request: pytest.FixtureRequest) -> ClusterSet | SentinelSet:
    return request.getfixturevalue(f"redis_{request.param}")


@pytest.fixture
def settings(topology: ClusterSet | SentinelSet, prefix: str) -> SessionSettings:
    return make_settings(topology.url, prefix, flask_secret_keys=[LEGACY_FLASK_KEY])


@pytest.fixture
def apps(settings: SessionSettings, probe: list[Any]) -> tuple[Any, Any]:
    return make_flask(settings, probe), make_asgi(settings, probe)


@pytest.fixture
def browser(apps: tuple[Any, Any]) -> Browser:
    return Browser(*apps)


@pytest.fixture
def probe() -> list[Any]:
    return []


@pytest.mark.parametrize(("writer", "reader"), PAIRS)
def test_a_session_written_by_one_side_is_read_by_the_other(
    browser: Browser, probe: list[Any], writer: str, reader: str
) -> None:
    assert browser.post(writer, "/set/user", params={"value": "alice"}).status_code == 200
    assert browser.post(reader, "/set/theme", params={"value": "dark"}).status_code == 200
    browser.get(writer, "/read")
    assert probe[-1] == {"user": "alice", "theme": "dark"}


@pytest.mark.parametrize("side", SIDES)
def test_regenerate_moves_the_session_to_a_new_id_of_the_same_family(
    browser: Browser, probe: list[Any], side: str
) -> None:
    browser.post(side, "/set/user", params={"value": "alice"})
    before = browser.session_cookie()
    assert browser.post(side, "/regenerate").status_code == 200
    after = browser.session_cookie()
    assert before and after and before.partition(".")[0] != after.partition(".")[0]
    assert before[:FAMILY_CHARS] == after[:FAMILY_CHARS]
    browser.get(SIDES[1 - SIDES.index(side)], "/read")
    assert probe[-1] == {"user": "alice"}
    # The old id is gone: replaying it starts an empty session.
    browser.cookies = {"ssid": before}
    browser.get(side, "/read")
    assert probe[-1] == {}


@pytest.mark.parametrize("side", SIDES)
def test_logout_then_new_data_goes_to_a_new_session(
    browser: Browser, probe: list[Any], side: str
) -> None:
    browser.post(side, "/set/user", params={"value": "alice"})
    old = browser.session_cookie()
    assert browser.post(side, "/logout").status_code == 200
    browser.post(side, "/set/theme", params={"value": "light"})
    assert browser.session_cookie() != old
    browser.get(side, "/read")
    assert probe[-1] == {"theme": "light"}


@pytest.mark.parametrize("side", SIDES)
def test_a_legacy_flask_cookie_is_taken_over_and_cannot_be_replayed_after_logout(
    apps: tuple[Any, Any], browser: Browser, probe: list[Any], side: str
) -> None:
    cookie, _ = legacy_flask_cookie({"user": "alice"})
    browser.cookies = {"session": cookie}
    assert browser.get(side, "/read").status_code == 200
    assert probe[-1]["user"] == "alice"
    assert set(browser.cookies) == {"ssid"}
    # A second request with the old cookie finds the marker and the same session.
    again = Browser(*apps)
    again.cookies = {"session": cookie}
    again.get(side, "/read")
    assert again.session_cookie() == browser.session_cookie()
    browser.post(side, "/logout")
    browser.cookies = {"session": cookie}
    browser.get(side, "/read")
    assert probe[-1] == {}


def test_session_keys_share_a_slot_and_sessions_spread_over_every_master(
    redis_cluster: ClusterSet, prefix: str
) -> None:
    client = sync_client(redis_cluster.url, timeout=1)
    settings = make_settings(redis_cluster.url, prefix)
    probe: list[Any] = []
    flask_app, asgi_app = make_flask(settings, probe), make_asgi(settings, probe)
    sids = []
    for i in range(24):
        b = Browser(flask_app, asgi_app)
        b.post(SIDES[i % 2], "/set/user", params={"value": f"u{i}"})
        sid = (b.session_cookie() or "").partition(".")[0]
        b.post(SIDES[i % 2], "/regenerate")
        new_sid = (b.session_cookie() or "").partition(".")[0]
        assert client.keyslot(session_key(prefix, sid)) == client.keyslot(
            session_key(prefix, new_sid)
        )
        assert client.exists(session_key(prefix, new_sid)) == 1
        sids.append(new_sid)
    masters = {redis_cluster.master_of_slot(client.keyslot(session_key(prefix, s))) for s in sids}
    assert masters == set(redis_cluster.masters())
    fingerprint = "ab12" + "0" * 60
    assert client.keyslot(marker_key(prefix, fingerprint)) == client.keyslot(
        session_key(prefix, "ab12" + "x" * 39)
    )
    client.close()


def test_a_sentinel_url_reaches_the_master_with_the_password_and_database(
    redis_sentinel: SentinelSet, prefix: str
) -> None:
    settings = make_settings(redis_sentinel.url.replace("/0", "/3"), prefix)
    probe: list[Any] = []
    b = Browser(make_flask(settings, probe), make_asgi(settings, probe))
    b.post("asgi", "/set/user", params={"value": "alice"})
    sid = (b.session_cookie() or "").partition(".")[0]
    master = redis.Redis(port=redis_sentinel.master(), password=PASSWORD, db=3)
    assert master.exists(session_key(prefix, sid)) == 1
    master.close()
