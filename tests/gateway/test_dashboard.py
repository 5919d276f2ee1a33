"""The dashboard over HTTP: sign-in and its cookie, CSRF on every form, the
confirmation step, group and bulk flips, open and closed admin."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_gateway
from tests.gateway.support import EchoBackend, serve, settings_for
from tests.processes import ServerProcess, free_port, gunicorn_gateway

TOKEN = "dash-secret-token"


def gateway_url(tmp_path: Path, **overrides: object) -> Iterator[str]:
    values: dict[str, object] = {
        "admin_tokens": [f"alice:{TOKEN}"],
        "groups": {"notes": ["notes.list", "notes.show"]},
    }
    values.update(overrides)
    settings = settings_for(tmp_path, **values)
    gateway = create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )
    with serve(gateway) as url:
        yield url


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    yield from gateway_url(tmp_path)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def signed_in(client: httpx.Client, token: str = TOKEN) -> str:
    """Sign in; the page's CSRF token."""
    form = client.get("/_gateway/")
    answer = client.post("/_gateway/signin", data={"csrf": csrf_of(form.text), "token": token})
    assert answer.status_code == 303, answer.text
    page = client.get("/_gateway/")
    assert "Signed in as <strong>alice</strong>" in page.text
    return csrf_of(page.text)


def test_the_prefix_answers_html_even_without_a_slash(url: str) -> None:
    response = httpx.get(f"{url}/_gateway", follow_redirects=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Admin token" in response.text
    assert "script-src" not in response.headers["content-security-policy"]  # no scripts at all


def test_the_session_cookie_is_signed_httponly_strict_and_short_lived(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        form = client.get("/_gateway/")
        answer = client.post("/_gateway/signin", data={"csrf": csrf_of(form.text), "token": TOKEN})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("gw_admin="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/_gateway/" in cookie and "Max-Age=1800" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    assert TOKEN not in cookie


def test_the_cookie_is_secure_over_https(url: str) -> None:
    # uvicorn trusts X-Forwarded-Proto from loopback, as behind a TLS proxy.
    with httpx.Client(base_url=url, headers={"X-Forwarded-Proto": "https"}) as client:
        form = client.get("/_gateway/")
        answer = client.post("/_gateway/signin", data={"csrf": csrf_of(form.text), "token": TOKEN})
    assert "Secure" in answer.headers["set-cookie"]


def test_a_bad_token_is_refused_and_sets_no_session(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        form = client.get("/_gateway/")
        answer = client.post("/_gateway/signin", data={"csrf": csrf_of(form.text), "token": "nope"})
        assert answer.status_code == 401
        assert "That is not an admin token." in answer.text
        assert "gw_admin" not in client.cookies
        assert "Signed in" not in client.get("/_gateway/").text


def test_sign_in_without_the_form_token_is_refused(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        answer = client.post("/_gateway/signin", data={"csrf": "forged", "token": TOKEN})
    assert answer.status_code == 403
    assert not any(c.startswith("gw_admin=ey") for c in answer.headers.get_list("set-cookie"))


def test_a_forged_session_cookie_is_not_a_session(url: str) -> None:
    with httpx.Client(base_url=url, cookies={"gw_admin": "eyJhY3RvciI6ImV2ZSJ9.x.y"}) as client:
        page = client.get("/_gateway/")
    assert "Admin token" in page.text and "Signed in" not in page.text


def test_a_flip_without_the_form_token_is_refused_and_changes_nothing(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        signed_in(client)
        for csrf in ("", "wrong"):
            answer = client.post(
                "/_gateway/flip",
                data={"csrf": csrf, "key": "prices", "flag": "new", "confirm": "yes"},
            )
            assert answer.status_code == 403
        assert client.get("/prices/1.5").headers["x-served-by"] == "legacy"


def test_a_flip_is_confirmed_before_it_happens_and_then_audited(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        csrf = signed_in(client)
        confirm = client.post(
            "/_gateway/flip",
            data={"csrf": csrf, "target": "prices", "flag": "canary 5", "reason": "try it"},
        )
        assert confirm.status_code == 200
        assert (
            "Confirm flip" in confirm.text
            and "the new app does not implement prices" in confirm.text
        )
        assert client.get("/prices/1.5").headers["x-served-by"] == "legacy"  # not yet
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', confirm.text))
        assert fields == {
            "csrf": csrf,
            "flag": "canary 5",
            "reason": "try it",
            "confirm": "yes",
            "key": "prices",
        }
        done = client.post("/_gateway/flip", data=fields)
        assert done.status_code == 200 and "Flipped (flags version 2)" in done.text
        page = client.get("/_gateway/").text
    assert re.search(r"<td>alice</td><td><code>prices</code></td><td>legacy → canary 5</td>", page)


def test_group_and_pattern_flips_list_every_key_first(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        csrf = signed_in(client)
        group = client.post("/_gateway/flip", data={"csrf": csrf, "target": "notes", "flag": "new"})
        assert "notes.list, notes.show" in group.text
        bulk = client.post(
            "/_gateway/flip", data={"csrf": csrf, "match": "files*", "flag": "shadow"}
        )
        keys = re.findall(r'name="key" value="([^"]+)"', bulk.text)
        assert keys == ["files", "files.raw"]
        client.post(
            "/_gateway/flip",
            data={"csrf": csrf, "flag": "shadow", "confirm": "yes", "key": keys},
        )
        every = client.post("/_gateway/flip", data={"csrf": csrf, "match": "*", "flag": "legacy"})
        assert len(re.findall(r'name="key"', every.text)) > 20
        flags = client.get("/_gateway/flags", headers={"Authorization": f"Bearer {TOKEN}"})
    assert flags.json()["flags"] == {"files": "shadow", "files.raw": "shadow"}


def test_unknown_targets_and_flags_are_a_400_page(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        csrf = signed_in(client)
        for data in ({"target": "nope", "flag": "new"}, {"target": "prices", "flag": "bogus"}):
            answer = client.post("/_gateway/flip", data={"csrf": csrf, **data})
            assert answer.status_code == 400
            assert "Not flipped" in answer.text


def test_sign_out_ends_the_session(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        csrf = signed_in(client)
        out = client.post("/_gateway/signout", data={"csrf": csrf})
        assert out.status_code == 303
        assert "Signed in" not in client.get("/_gateway/").text


def test_closed_admin_shows_why_and_refuses(tmp_path: Path) -> None:
    for url in gateway_url(tmp_path, admin_tokens=[], admin_open=False):
        with httpx.Client(base_url=url) as client:
            form = client.get("/_gateway/")
            assert "the admin API is closed" in form.text
            assert 'name="token"' not in form.text
            answer = client.post("/_gateway/signin", data={"csrf": "x", "token": ""})
            assert answer.status_code == 403
            assert "Signed in" not in client.get("/_gateway/").text


def test_open_admin_signs_in_loopback_clients_without_a_token(tmp_path: Path) -> None:
    for url in gateway_url(tmp_path, admin_tokens=[], admin_open=True):
        with httpx.Client(base_url=url) as client:
            form = client.get("/_gateway/")
            answer = client.post("/_gateway/signin", data={"csrf": csrf_of(form.text), "token": ""})
            assert answer.status_code == 303
            assert "Signed in as <strong>open-admin</strong>" in client.get("/_gateway/").text


@pytest.mark.slow
def test_a_sign_in_holds_on_every_worker_and_a_flip_reaches_them_all(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    port = free_port()
    env = {
        "GATEWAY_LEGACY_APP": "tests.gateway.support:rich_flask_app()",
        "GATEWAY_NEW_APP": "tests.gateway.support:rich_fastapi_app()",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_FLAG_KEY": f"{key_prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{key_prefix}channel",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_ADMIN_TOKENS": f'["alice:{TOKEN}"]',
    }
    base = f"http://127.0.0.1:{port}"
    with ServerProcess(gunicorn_gateway(port, 2), tmp_path / "gw.log", env) as server:
        server.wait_for(f"{base}/_gateway/health")
        with httpx.Client(base_url=base) as client:
            csrf = signed_in(client)
        for _ in range(8):  # new connections: both workers answer, each knows the session
            with httpx.Client(base_url=base, cookies=client.cookies) as again:
                assert "Signed in as <strong>alice</strong>" in again.get("/_gateway/").text
        with httpx.Client(base_url=base, cookies=client.cookies) as again:
            done = again.post(
                "/_gateway/flip",
                data={"csrf": csrf, "key": "prices", "flag": "new", "confirm": "yes"},
            )
        assert "Applied by every live worker." in done.text, done.text
        assert {httpx.get(f"{base}/prices/1.5").headers["x-served-by"] for _ in range(8)} == {"new"}
        # The traffic figures add up both workers' requests (metrics flush within seconds).
        deadline = time.monotonic() + 15
        with httpx.Client(base_url=base, cookies=client.cookies) as again:
            while "<tr><td>new</td><td>8</td>" not in (page := again.get("/_gateway/").text):
                assert time.monotonic() < deadline, page[page.find("Traffic") :][:600]
                time.sleep(0.3)
