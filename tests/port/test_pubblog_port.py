"""pubblog, ported route by route with the public kit, behind the gateway.

The ported pages are Flask's byte for byte after ``normalise`` (CSRF tokens are
signed with a timestamp, so two renders differ there and only there); the user
stays logged in across the boundary; logout on either side, remember-me
included, logs out of both; forms rendered by one side are accepted by the other.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.port.conftest import FLIPPED, PORTED, Site
from tests.port.linecount import flask_view_lines, user_lines

CSRF_VALUE = re.compile(r'(<input[^>]*name="csrf_token"[^>]*value=")[^"]*(")')


def normalise(html: str) -> str:
    """The documented normaliser: every CSRF token value becomes ``CSRF``."""
    return CSRF_VALUE.sub(r"\1CSRF\2", html)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def log_in(site: Site, remember: bool = False) -> None:
    form = site.get("/auth/login")
    assert form.headers["x-served-by"] == "legacy"
    data = {"csrf_token": csrf_token(form.text), "username": "ada", "password": "lovelace"}
    if remember:
        data["remember_me"] = "y"
    done = site.post("/auth/login", data)
    assert done.status_code == 302 and done.headers["location"] == "/blog/", done.text
    site.get("/blog/")  # shows (and so consumes) the welcome flash


def same_page(site: Site, url: str) -> str:
    flask_page = site.get(url, side="legacy")
    fastapi_page = site.get(url, side="new")
    assert (flask_page.headers["x-served-by"], fastapi_page.headers["x-served-by"]) == (
        "legacy",
        "new",
    )
    assert fastapi_page.status_code == flask_page.status_code
    assert normalise(fastapi_page.text) == normalise(flask_page.text)
    return fastapi_page.text


@pytest.mark.parametrize("url", ["/blog/", "/blog/1", "/blog/2"])
def test_ported_pages_are_flasks_for_a_visitor(site: Site, url: str) -> None:
    page = same_page(site, url)
    assert 'href="/auth/login?next=' in page  # links to a page still on Flask


@pytest.mark.parametrize("url", ["/blog/", "/blog/1", "/blog/new"])
def test_ported_pages_are_flasks_for_a_logged_in_user(site: Site, url: str) -> None:
    log_in(site)
    page = same_page(site, url)
    assert '<span class="user">ada</span>' in page  # g.user, filled on both sides
    assert 'href="/blog/static/blog.css"' in page  # a blueprint's static folder


def test_a_missing_post_is_404_on_both_sides(site: Site) -> None:
    assert site.get("/blog/99", side="legacy").status_code == 404
    assert site.get("/blog/99", side="new").status_code == 404


def test_an_invalid_form_renders_the_same_errors(site: Site) -> None:
    log_in(site)
    pages = {}
    for side in ("legacy", "new"):
        token = csrf_token(site.get("/blog/new", side=side).text)
        data = {"csrf_token": token, "title": "Untitled", "body": ""}
        pages[side] = site.post("/blog/new", data, side=side)
    assert pages["new"].status_code == pages["legacy"].status_code == 200
    assert "Give the post a real title." in pages["new"].text
    assert normalise(pages["new"].text) == normalise(pages["legacy"].text)


def test_login_on_flask_is_a_login_on_fastapi(site: Site) -> None:
    assert site.get("/blog/new").status_code == 302  # login_required, on the FastAPI side
    log_in(site)
    page = site.get("/blog/new")
    assert page.headers["x-served-by"] == "new" and page.status_code == 200
    assert '<span class="user">ada</span>' in page.text


def test_remember_me_restores_the_login_on_both_sides(site: Site) -> None:
    log_in(site, remember=True)
    assert "remember_token" in site.client.cookies
    site.client.cookies.delete("session")  # the browser was closed: only remember_token left
    assert '<span class="user">ada</span>' in site.get("/blog/", side="new").text
    site.client.cookies.delete("session")
    assert '<span class="user">ada</span>' in site.get("/blog/", side="legacy").text


@pytest.mark.parametrize("logout_side", ["legacy", "new"])
def test_logout_on_either_side_logs_out_of_both_remember_me_included(
    site_factory: object, logout_side: str
) -> None:
    flags = {endpoint: "new" for endpoint in FLIPPED} | {"auth.logout": logout_side}
    site: Site = site_factory(flags)  # type: ignore[operator]
    log_in(site, remember=True)
    # The logout form of a page rendered by the other side than the one logging out.
    page = site.get("/blog/", side="new" if logout_side == "legacy" else "legacy")
    done = site.post("/auth/logout", {"csrf_token": csrf_token(page.text)})
    assert done.headers["x-served-by"] == logout_side
    assert done.status_code == 302
    assert "remember_token" not in site.client.cookies
    for side in ("legacy", "new"):
        shown = site.get("/blog/", side=side).text
        assert '<span class="user">' not in shown, side
    assert site.get("/blog/new").status_code == 302  # login_required again


def test_a_form_rendered_by_fastapi_is_accepted_by_flask(site: Site) -> None:
    log_in(site)
    page = site.get("/blog/1")  # ported: the comment form comes from FastAPI
    assert page.headers["x-served-by"] == "new"
    posted = site.post("/blog/1/comment", {"csrf_token": csrf_token(page.text), "body": "Nice!"})
    assert posted.headers["x-served-by"] == "legacy"  # blog.comment is still on Flask
    assert posted.status_code == 302 and posted.headers["location"] == "/blog/1"
    after = site.get("/blog/1")
    assert "<b>ada</b>: Nice!" in after.text
    assert '<div class="flash success">Comment added.</div>' in after.text  # Flask's flash


def test_the_converted_comment_route_works_on_fastapi_too(site: Site) -> None:
    log_in(site)
    page = site.get("/blog/2", side="legacy")
    data = {"csrf_token": csrf_token(page.text), "body": "From FastAPI"}
    posted = site.post("/blog/2/comment", data, side="new")
    assert posted.headers["x-served-by"] == "new"
    assert posted.status_code == 302 and posted.headers["location"] == "/blog/2"
    assert "<b>ada</b>: From FastAPI" in site.get("/blog/2", side="legacy").text


def test_a_form_rendered_by_flask_is_accepted_by_fastapi(site: Site) -> None:
    log_in(site)
    page = site.get("/blog/new", side="legacy")
    data = {"csrf_token": csrf_token(page.text), "title": "From Flask", "body": "Posted."}
    posted = site.post("/blog/new", data)
    assert posted.headers["x-served-by"] == "new"
    assert posted.status_code == 302 and posted.headers["location"] == "/blog/3"
    shown = site.get("/blog/3", side="legacy").text
    assert "From Flask" in shown and "Your post is live." in shown


def test_a_forged_form_is_refused_by_the_fastapi_side(site: Site) -> None:
    log_in(site)
    posted = site.post("/blog/new", {"csrf_token": "forged", "title": "x", "body": "y"})
    assert posted.headers["x-served-by"] == "new" and posted.status_code == 400


def test_status_counts_the_ported_routes(site: Site) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app as cli

    url = str(site.client.base_url).rstrip("/")
    result = CliRunner().invoke(cli, ["status", "--json", "--url", url])
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.output)
    states = {row["endpoint"]: row["state"] for row in report["routes"]}
    assert all(states[endpoint] == "implemented" for endpoint in PORTED)
    assert states["auth.login"] == "missing"
    flags = {row["endpoint"]: row["flag"] for row in report["routes"]}
    assert flags["blog.comment"] == "legacy" and flags["blog.create"] == "new"
    assert states["static"] == states["blog.static"] == states["auth.static"] == "implemented"


def test_the_port_started_from_the_scaffold_imports_and_passes_ruff(tmp_path: Path) -> None:
    port = Path(__file__).parent / "pubblog_port"
    ruff = Path(sys.executable).parent / "ruff"
    checked = subprocess.run(
        [str(ruff), "check", str(port)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout


def test_line_counts_are_the_ones_the_migration_guide_quotes() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "migration-guide.md").read_text()
    counts = user_lines()
    per_route = counts["blog.py"] + counts["auth.py"]
    setup = counts["app.py"]
    expected = (
        f"{flask_view_lines()} lines of Flask views; {per_route} lines added to the "
        f"scaffold's output for them, plus {setup} lines of set-up (`app.py`)"
    )
    assert expected in guide, expected
