"""10,000 hostile requests against the stack as it ships: no 5xx, no traceback.

The gateway runs under gunicorn with two uvicorn workers, both reference apps
in-process, sessions and flags in real Redis, a real identity provider, and
half the routes flipped to the new app (one canary, one shadow), so every
request reaches one of the two apps through the gateway. The generator
(tests/fuzz/generate.py) sends pages with junk paths, Host and X-Forwarded-*
headers, real/forged/oversized cookies, bodies of every shape on every
POST/PUT route, and admin payloads with a valid token.

The test cannot pass by accident: it checks that the requests were answered,
that both apps answered a share of them, that logged-in pages and accepted
forms and flips were among them, and it reads the server's log.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.devstack import oidc_provider
from tests.fuzz.generate import Context, Request, generate
from tests.gateway.test_end_to_end import log_in
from tests.processes import ServerProcess, free_port, gunicorn_gateway

pytestmark = pytest.mark.slow

COUNT = 10_000
SEED = 20261125
CONCURRENCY = 8
ADMIN_TOKEN = "fuzz-admin-token-0123456789"
# 503 (session or flag store unavailable, identity provider unreachable) and
# 504 (an app too slow) are the documented 5xx; with everything healthy they
# must not appear either, but they are not bugs in themselves.
DOCUMENTED_5XX = {503, 504}
FLAGS = {
    "webapp.notes": "new",
    "webapp.create_note": "new",
    "webapp.note": "new",
    "auth.profile": "new",
    "api.list_notes": "new",
    "api.create_note": "new",
    "api.get_note": "canary 50",
    "webapp.index": "shadow",
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Answer:
    kind: str
    status: int | None  # None: the server closed without a status line
    served_by: str


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, key_prefix: str) -> Iterator[tuple[str, ServerProcess]]:
    oidc_port, port = free_port(), free_port()
    env = {
        "GATEWAY_LEGACY_APP": "legacy_flask:create_app()",
        "GATEWAY_NEW_APP": "new_fastapi:create_app()",
        "GATEWAY_FLAGS": json.dumps(FLAGS),
        "GATEWAY_FLAG_KEY": f"{key_prefix}flags",
        "GATEWAY_FLAG_CHANNEL": f"{key_prefix}flags",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp_path / "flags.json"),
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_DRAIN_SECONDS": "0",
        "REDIS_URL": redis_url,
        "GATEWAY_REDIS_URL": "",
        "SHARED_SESSION_KEY_PREFIX": f"{key_prefix}ss:",
        "NOTES_DB_PATH": str(tmp_path / "notes.sqlite3"),
        "OIDC_ISSUER": f"http://127.0.0.1:{oidc_port}",
    }
    del env["GATEWAY_REDIS_URL"]
    command = gunicorn_gateway(port, 2, "--log-level", "warning")
    with (
        oidc_provider("127.0.0.1", oidc_port),
        ServerProcess(command, tmp_path / "gateway.log", env) as server,
    ):
        url = f"http://127.0.0.1:{port}"
        server.wait_for(f"{url}/_gateway/ready", timeout=60)
        yield url, server


def logged_in_context(url: str) -> Context:
    with httpx.Client(timeout=10) as client:
        log_in(client, url, "fuzzer")
        page = client.get(f"{url}/notes")
        assert page.status_code == 200, page.text
        cookie = f"ssid={client.cookies['ssid']}"
    match = CSRF.search(page.text)
    assert match, "no CSRF token on the notes page"
    host = url.removeprefix("http://")
    return Context(host, cookie, match.group(1), ADMIN_TOKEN, sorted(FLAGS))


async def send_all(url: str, requests: list[Request]) -> list[Answer]:
    host, port = url.removeprefix("http://").split(":")
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    answers: list[Answer] = []

    async def one(request: Request) -> Answer:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(request.encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.read(65536), timeout=30)
            # Read the rest so the server finishes cleanly (bounded by its close).
            while await asyncio.wait_for(reader.read(65536), timeout=30):
                pass
        except (ConnectionError, TimeoutError):
            head = b""
        finally:
            writer.close()
        status_line = head.split(b"\r\n", 1)[0]
        parts = status_line.split(b" ")
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        served = re.search(rb"\r\nx-served-by: (\w+)", head, re.IGNORECASE)
        return Answer(request.kind, status, served.group(1).decode() if served else "")

    async def worker() -> None:
        while not queue.empty():
            answers.append(await one(queue.get_nowait()))

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return answers


def test_ten_thousand_hostile_requests_get_no_5xx_and_leave_no_traceback(
    stack: tuple[str, ServerProcess],
) -> None:
    url, server = stack
    context = logged_in_context(url)
    requests = generate(context, COUNT, SEED)
    started = time.monotonic()
    answers = asyncio.run(send_all(url, requests))
    elapsed = time.monotonic() - started

    statuses = Counter(a.status for a in answers)
    by_kind = Counter((a.kind, (a.status or 0) // 100) for a in answers)
    served = Counter(a.served_by for a in answers)
    report = f"{elapsed:.1f} s; statuses {sorted(statuses.items(), key=str)}; served {served}"
    print(report)

    # It really ran: every request was sent and nearly all answered with a status.
    assert len(answers) == COUNT
    assert statuses[None] <= COUNT * 0.02, report  # only raw junk may be cut off
    # Both apps answered, logged-in pages worked, forms and flips were accepted.
    assert served["legacy"] >= 1000 and served["new"] >= 1000, report
    assert by_kind[("page", 2)] >= 500, report
    assert by_kind[("form", 3)] + by_kind[("form", 2)] >= 100, report  # CSRF-valid posts
    assert by_kind[("api", 2)] >= 100, report
    assert by_kind[("admin", 2)] >= 100 and by_kind[("admin", 4)] >= 100, report
    # WebSocket handshakes to plain pages and to the admin API are refused.
    assert by_kind[("websocket", 4)] >= 100, report
    # And nothing went wrong.
    bad = {s: n for s, n in statuses.items() if s is not None and s >= 500}
    assert not {s: n for s, n in bad.items() if s not in DOCUMENTED_5XX}, report
    assert not bad, f"documented 5xx while everything was healthy: {report}"
    log = server.log()
    assert "Traceback" not in log, log[-5000:]
    assert "Exception in ASGI application" not in log, log[-5000:]
