"""The shared session against the peers users would pick instead, side by side.

Flask side: ``install_flask_session`` against Flask-Session (Redis backend),
both under ``gunicorn -k sync -w 1``. Starlette side: ``SessionMiddleware``
against starsessions (Redis store, autoload), both FastAPI under uvicorn.
Every server is pinned to core 0 with ``taskset``, wrk and the private
``redis-server`` that all four share to core 1. Rounds are interleaved (the
order of the two contenders alternates), each round runs a read-only request
(``/read``: reads the user) and a modifying one (``/write``: increments a
counter), and the ratio is ours / peer of the summed requests per second.

The server's CPU time per request (from /proc, worker included) is printed
beside the throughput: on a shared machine it moves much less than req/s.

Usage: ``.venv/bin/python bench/session_peers.py [--seconds 5] [--rounds 3]``
(needs wrk and taskset, and the ``bench`` extra: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer, free_port  # noqa: E402

VENV_BIN = Path(sys.executable).parent
SERVER_CORE, LOAD_CORE = "0", "1"
# (side, contender, server kind, factory in bench/session_apps.py, cookie name)
CONTENDERS = [
    ("flask", "shared_session", "flask", "flask_session", "ssid"),
    ("flask", "Flask-Session", "flask", "flask_peer", "session"),
    ("starlette", "shared_session", "asgi", "asgi_session", "ssid"),
    ("starlette", "starsessions", "asgi", "asgi_peer", "session"),
]
REQUESTS = [("read-only", "/read"), ("modifying", "/write")]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its children processes (gunicorn's worker)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1]: parent pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextmanager
def serve(kind: str, factory: str, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = free_port()
    if kind == "flask":
        cmd = [
            str(VENV_BIN / "gunicorn"), "--no-control-socket", "-w", "1", "-k", "sync",
            "-b", f"127.0.0.1:{port}", "--log-level", "warning",
            f"bench.session_apps:{factory}()",
        ]  # fmt: skip
    else:
        cmd = [
            str(VENV_BIN / "uvicorn"), "--factory", f"bench.session_apps:{factory}",
            "--port", str(port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
    proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, *cmd], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/plain", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def wrk(url: str, pid: int, seconds: int, cookie: str) -> tuple[float, float]:
    """Requests per second, and the server's CPU microseconds per request;
    raises on any error response."""
    cmd = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", "-c10", f"-d{seconds}s", "-H", cookie, url]
    before = cpu_seconds(pid)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    used = cpu_seconds(pid) - before
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, used / max(count, 1) * 1e6


def session_cookie(url: str, name: str) -> str:
    response = httpx.get(f"{url}/write")
    response.raise_for_status()
    return f"Cookie: {name}={response.cookies[name]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    server = RedisServer()
    server.start()
    assert server._proc is not None
    subprocess.run(["taskset", "-p", "-c", LOAD_CORE, str(server._proc.pid)], check=True,
                   capture_output=True)  # fmt: skip
    env = {
        **os.environ,
        "SHARED_SESSION_REDIS_URL": server.url,
        "SHARED_SESSION_SECRET_KEYS": '["bench-secret"]',
        "PYTHONPATH": str(ROOT),
    }
    rps: dict[tuple[str, str, str], float] = {}
    cpu: dict[tuple[str, str, str], float] = {}
    try:
        with ExitStack() as stack:
            servers = {
                (side, name): stack.enter_context(serve(kind, factory, env))
                for side, name, kind, factory, _ in CONTENDERS
            }
            cookies = {
                (side, name): session_cookie(servers[side, name][0], cookie)
                for side, name, _, _, cookie in CONTENDERS
            }
            for round_number in range(args.rounds):
                for side in ("flask", "starlette"):
                    pair = [name for s, name, *_ in CONTENDERS if s == side]
                    if round_number % 2:
                        pair.reverse()
                    for label, path in REQUESTS:
                        for name in pair:
                            url, pid = servers[side, name]
                            got, used = wrk(f"{url}{path}", pid, args.seconds, cookies[side, name])
                            key = (side, name, label)
                            rps[key] = rps.get(key, 0.0) + got / args.rounds
                            cpu[key] = cpu.get(key, 0.0) + used / args.rounds
                            print(
                                f"round {round_number + 1}: {side} {name} {label}: "
                                f"{got:,.0f} req/s, {used:,.0f} us CPU/request",
                                file=sys.stderr,
                            )
    finally:
        server.close()
    print(
        f"\nwrk -t1 -c10 -d{args.seconds}s x {args.rounds} interleaved rounds; servers pinned to "
        f"core {SERVER_CORE}, wrk and redis-server to core {LOAD_CORE}; one worker each\n"
    )
    print(
        "| side | request | shared_session req/s | peer | peer req/s | throughput ratio "
        "| CPU/request ours | CPU/request peer | CPU ratio (peer/ours) |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    for side, peer in (("flask", "Flask-Session"), ("starlette", "starsessions")):
        for label, _ in REQUESTS:
            ours, theirs = rps[side, "shared_session", label], rps[side, peer, label]
            ours_cpu, theirs_cpu = cpu[side, "shared_session", label], cpu[side, peer, label]
            print(
                f"| {side} | {label} | {ours:,.0f} | {peer} | {theirs:,.0f} | "
                f"{ours / theirs:.2f}x | {ours_cpu:,.0f} us | {theirs_cpu:,.0f} us | "
                f"{theirs_cpu / ours_cpu:.2f}x |"
            )


if __name__ == "__main__":
    main()
