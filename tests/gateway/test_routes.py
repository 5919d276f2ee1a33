"""The route table agrees with Werkzeug on every legacy rule, and sends
paths only the new app knows to the new app."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect

from gateway.loading import AppLoadError, load_asgi_app, load_flask_app
from gateway.routes import RouteTable, RouteTableError, app_routes, legacy_sample_path
from tests.gateway.support import (
    echo_gateway,
    rich_fastapi_app,
    rich_flask_app,
    serve,
    settings_for,
)

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
JUNK_SEGMENTS = (
    "",
    "x",
    "1",
    "-1",
    "0",
    "007",
    "1.5",
    "-2.5",
    "1e3",
    "abc",
    "ab",
    "abcdef",
    "about",
    "help",
    "imprint",
    "aboutx",
    str(uuid.UUID(int=7)),
    "not-a-uuid",
    "ü",
    "%zz",
    " ",
    "a b",
    "..",
    ".",
    "new",
    "edit",
    "raw",
    "page",
    "12345",
    "9999",
    "10",
    "11",
)


def werkzeug_outcome(url_map: Map, path: str, method: str) -> tuple[str, str | None]:
    """What Werkzeug itself decides for a request, as (kind, endpoint)."""
    adapter = url_map.bind("localhost")
    try:
        rule, _ = adapter.match(path, method, return_rule=True)
    except RequestRedirect:
        return "redirect", None
    except MethodNotAllowed:
        return "method_not_allowed", None
    except NotFound:
        return "not_found", None
    return "rule", rule.endpoint


def generated_paths(url_map: Map, count: int, seed: int) -> Iterator[tuple[str, str]]:
    """Sample paths of every rule, their slash variants, and seeded random mutations."""
    rng = random.Random(seed)
    samples = [s for r in url_map.iter_rules() if (s := legacy_sample_path(r)) is not None]
    base = {*samples}
    for s in samples:
        base |= {s.rstrip("/") or "/", s + "/", "/" + s, s.replace("/", "//", 1)}
    for path in sorted(base):
        for method in METHODS:
            yield path, method
    for _ in range(count):
        parts = rng.choice(samples).strip("/").split("/")
        for _ in range(rng.randint(1, 2)):
            action = rng.random()
            if action < 0.5 and parts:
                parts[rng.randrange(len(parts))] = rng.choice(JUNK_SEGMENTS)
            elif action < 0.75:
                parts.append(rng.choice(JUNK_SEGMENTS))
            elif parts:
                parts.pop()
        path = "/" + "/".join(parts) + rng.choice(("", "", "/"))
        yield path, rng.choice(METHODS)


def assert_agrees(table: RouteTable, url_map: Map, pairs: list[tuple[str, str]]) -> int:
    for path, method in pairs:
        kind, endpoint = werkzeug_outcome(url_map, path, method)
        decision = table.match(path, method)
        context = f"{method} {path!r}: werkzeug {kind} {endpoint}, gateway {decision}"
        if kind == "rule":
            assert (decision.target, decision.endpoint) == ("flag", endpoint), context
        elif decision.target == "new":
            # Only paths Werkzeug refuses may go to the new app.
            assert kind in ("not_found", "method_not_allowed"), context
        else:
            assert (decision.target, decision.reason) == ("legacy", kind), context
    return len(pairs)


def test_every_rich_rule_and_generated_path_agrees_with_werkzeug() -> None:
    app = rich_flask_app()
    table = RouteTable(app.url_map)
    pairs = list(generated_paths(app.url_map, 600, seed=1))
    assert assert_agrees(table, app.url_map, pairs) > 800


def test_agreement_holds_with_the_new_app_routes_added() -> None:
    app = rich_flask_app()
    table = RouteTable(app.url_map, app_routes(rich_fastapi_app()))
    assert_agrees(table, app.url_map, list(generated_paths(app.url_map, 600, seed=2)))


def test_flask_itself_answers_as_the_table_predicts() -> None:
    """End to end: Flask's status for each path is the one the decision implies."""
    app = rich_flask_app()
    table = RouteTable(app.url_map)
    client = app.test_client()
    for path, method in list(generated_paths(app.url_map, 200, seed=3)):
        if "%" in path or " " in path or path.startswith("//"):
            continue  # the test client would re-encode these, or read "//x" as a host
        status = client.open(path, method=method).status_code
        decision = table.match(path, method)
        if decision.endpoint == "static":
            continue  # the static view 404s for files that do not exist
        expected = {
            "redirect": {301, 302, 307, 308},
            "method_not_allowed": {405},
            "not_found": {404},
        }.get(decision.reason, {200})
        assert status in expected, f"{method} {path!r}: flask {status}, gateway {decision}"


def test_reference_legacy_app_agrees_with_werkzeug() -> None:
    legacy = load_flask_app("legacy_flask:create_app()")
    new = load_asgi_app("new_fastapi:create_app()")
    table = RouteTable(legacy.url_map, app_routes(new))
    pairs = list(generated_paths(legacy.url_map, 400, seed=4))
    assert assert_agrees(table, legacy.url_map, pairs) > 300


def test_strict_slashes_redirect_is_answered_by_legacy() -> None:
    table = RouteTable(rich_flask_app().url_map)
    assert table.match("/notes", "GET").reason == "redirect"
    assert table.match("/loose/", "GET").endpoint == "loose"
    assert table.match("/loose-dir", "GET").endpoint == "loose_dir"


def test_automatic_head_and_options_are_the_rule_methods() -> None:
    table = RouteTable(rich_flask_app().url_map)
    assert table.match("/notes/1", "HEAD").endpoint == "notes.show"
    assert table.match("/notes/1", "OPTIONS").target == "flag"
    assert table.match("/options-off", "OPTIONS").reason == "method_not_allowed"


def test_method_specific_rules_have_their_own_endpoint() -> None:
    table = RouteTable(rich_flask_app().url_map)
    assert table.match("/notes/5", "GET").endpoint == "notes.show"
    assert table.match("/notes/5", "PUT").endpoint == "notes.update"
    assert table.match("/notes/5", "DELETE").reason == "method_not_allowed"


def test_paths_only_the_new_app_serves_go_to_the_new_app() -> None:
    table = RouteTable(rich_flask_app().url_map, app_routes(rich_fastapi_app()))
    assert (
        table.match("/api/v2/stats", "GET").target,
        table.match("/api/v2/stats", "GET").endpoint,
    ) == ("new", "stats")
    assert table.match("/assets/site.css", "GET").target == "new"
    assert table.match("/api/things/bulk", "POST").target == "new"
    # The legacy rule still owns /admin/users/<id>, even though new has it too.
    assert table.match("/admin/users/3", "GET").target == "flag"
    # Legacy 405 and no new route for that method: legacy answers.
    assert table.match("/admin/users/3", "POST").reason == "method_not_allowed"
    assert table.match("/nowhere", "GET").reason == "not_found"


def test_new_app_routes_are_seen_through_included_routers() -> None:
    table = RouteTable(None, app_routes(load_asgi_app("new_fastapi:create_app()")))
    assert table.match("/notes", "GET").target == "new"


def test_table_lists_each_rule_with_what_the_new_app_implements() -> None:
    table = RouteTable(rich_flask_app().url_map, app_routes(rich_fastapi_app()))
    rows = {(r.rule, r.endpoint): r for r in table.rows()}
    assert rows[("/notes/<int:note_id>", "notes.show")].implemented
    assert not rows[("/notes/<int:note_id>", "notes.update")].implemented
    assert rows[("/admin/users/<int:user_id>", "admin.user")].new_methods == ("GET",)
    assert rows[("/api/v2/stats", "stats")].origin == "new"


def test_host_matching_maps_are_refused() -> None:
    with pytest.raises(RouteTableError):
        RouteTable(Map([], host_matching=True))


def test_admin_prefix_is_reserved_even_over_legacy_rules(tmp_path: Path) -> None:
    gateway = echo_gateway(settings_for(tmp_path, admin_prefix="/notes"))
    with serve(gateway) as url:
        response = httpx.get(f"{url}/notes/1")
    assert response.headers["x-served-by"] == "gateway"
    assert response.status_code == 404


def test_admin_routes_endpoint_lists_flag_and_group(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, groups={"notes": ["notes.list", "notes.show"]}, flags={"notes": "canary 5"}
    )
    with serve(echo_gateway(settings)) as url:
        rows = httpx.get(f"{url}/_gateway/routes").json()["routes"]
    show = next(r for r in rows if r["endpoint"] == "notes.show")
    assert show == {
        "rule": "/notes/<int:note_id>",
        "methods": ["GET", "HEAD", "OPTIONS"],
        "endpoint": "notes.show",
        "origin": "legacy",
        "implemented": True,
        "new_methods": ["GET"],
        "group": "notes",
        "flag": "canary 5",
    }


@pytest.mark.parametrize(
    ("import_string", "message"),
    [
        ("no_such_module_xyz:app", "module 'no_such_module_xyz' not found"),
        ("tests.gateway.support:nothing_here", "has no attribute 'nothing_here'"),
        ("tests.gateway.support", "must look like"),
        ("tests.gateway.support:rich_fastapi_app()", "not a Flask app"),
        ("tests.gateway.support:rich_flask_app", "not a Flask app"),
        ("tests.gateway.support:broken_factory()", "raised RuntimeError: boom"),
    ],
)
def test_loading_a_bad_legacy_app_says_why(import_string: str, message: str) -> None:
    with pytest.raises(AppLoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_flask_app(import_string)


@pytest.mark.parametrize(
    ("import_string", "message"),
    [
        ("tests.gateway.support:rich_flask_app()", "is a Flask"),
        ("tests.gateway.support:rich_fastapi_app", "not an ASGI app"),
        ("tests.gateway.support:METHODS_MISSING", "has no attribute"),
    ],
)
def test_loading_a_bad_new_app_says_why(import_string: str, message: str) -> None:
    with pytest.raises(AppLoadError, match=message):
        load_asgi_app(import_string)


def test_loading_accepts_attribute_and_factory_forms() -> None:
    assert isinstance(load_flask_app("tests.gateway.support:rich_flask_app()"), Flask)
    assert callable(load_asgi_app("tests.gateway.support:rich_fastapi_app()"))


def test_matching_costs_microseconds() -> None:
    table = RouteTable(rich_flask_app().url_map, app_routes(rich_fastapi_app()))
    paths = [
        ("/notes/5", "GET"),
        ("/files/a/b/raw", "GET"),
        ("/nowhere", "GET"),
        ("/api/v2/stats", "GET"),
        ("/notes", "GET"),
    ]
    start = time.perf_counter()
    for _ in range(4000):
        for path, method in paths:
            table.match(path, method)
    per_match = (time.perf_counter() - start) / 20_000
    print(f"\nroute table match: {per_match * 1e6:.1f} us")
    assert per_match < 100e-6


def _segments(url_map: Map) -> list[str]:
    literal = {p for r in url_map.iter_rules() for p in r.rule.split("/") if p and "<" not in p}
    return sorted(literal | set(JUNK_SEGMENTS))


RICH_MAP = rich_flask_app().url_map
RICH_TABLE = RouteTable(RICH_MAP, app_routes(rich_fastapi_app()))


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    parts=st.lists(st.sampled_from(_segments(RICH_MAP)), min_size=0, max_size=5),
    trailing=st.booleans(),
    method=st.sampled_from(METHODS),
)
def test_hypothesis_paths_agree_with_werkzeug(
    parts: list[str], trailing: bool, method: str
) -> None:
    path = "/" + "/".join(parts) + ("/" if trailing and parts else "")
    assert_agrees(RICH_TABLE, RICH_MAP, [(path, method)])


def test_match_cache_is_bounded_and_long_paths_still_match() -> None:
    table = RouteTable(rich_flask_app().url_map)
    for i in range(10_000):  # a flood of unique paths
        table.match(f"/flood/{i}", "GET")
    assert table._cached_match.cache_info().currsize <= 4096
    huge = "/" + "a" * 100_000
    assert table.match(huge, "GET") == table._match(huge, "GET", False)
    assert table._cached_match.cache_info().currsize <= 4096
    # A cached answer is the same object as a fresh one.
    first = table.match("/", "GET")
    assert table.match("/", "GET") is first == table._match("/", "GET", False)
