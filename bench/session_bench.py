"""Per-request cost of the shared session, and Redis round trips per request.

Runs each app alone on one worker (Flask under gunicorn sync, FastAPI under
uvicorn), on a private redis-server, and drives it with wrk:

- /plain on the app without the session layer (the baseline);
- /read: a read-only request carrying a live session cookie;
- /write: a request that changes the session.

Ratios are against the baseline of the same run. Round trips are counted
with MONITOR. Usage: ``.venv/bin/python bench/session_bench.py [--seconds 5]``.
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
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import CommandLog, RedisServer, free_port  # noqa: E402

VENV_BIN = Path(sys.executable).parent


@contextmanager
def serve(kind: str, factory: str, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    if kind == "flask":
        cmd = [
            str(VENV_BIN / "gunicorn"),
            "--no-control-socket",
            "-w",
            "1",
            "-k",
            "sync",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            f"bench.session_apps:{factory}()",
        ]
    else:
        cmd = [
            str(VENV_BIN / "uvicorn"),
            "--factory",
            f"bench.session_apps:{factory}",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/plain", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def wrk(url: str, seconds: int, cookie: str | None) -> tuple[float, float, float]:
    """Requests/s, p50 and p99 latency (ms)."""
    cmd = ["wrk", "-t1", "-c10", f"-d{seconds}s", "--latency", url]
    if cookie:
        cmd[1:1] = ["-H", f"Cookie: ssid={cookie}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out}")
    return rps, pct("50"), pct("99")


def round_trips(url: str, redis_url: str) -> tuple[int, int]:
    # MONITOR only around these few requests: under wrk's load its reader
    # would fall behind.
    log = CommandLog(redis_url)
    cookie = httpx.get(f"{url}/write").cookies["ssid"]
    headers = {"cookie": f"ssid={cookie}"}
    httpx.get(f"{url}/read", headers=headers)  # warm: scripts loaded
    httpx.get(f"{url}/write", headers=headers)
    log.take()
    httpx.get(f"{url}/read", headers=headers)
    read = len(log.take())
    httpx.get(f"{url}/write", headers=headers)
    write = len(log.take())
    log.close()
    return read, write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    server = RedisServer()
    server.start()
    env = {
        "SHARED_SESSION_REDIS_URL": server.url,
        "SHARED_SESSION_SECRET_KEYS": '["bench-secret"]',
        "PYTHONPATH": str(ROOT),
    }
    rows: list[tuple[str, str, float, float, float, float]] = []
    trips: dict[str, tuple[int, int]] = {}
    try:
        for side, plain, session in (
            ("flask", "flask_plain", "flask_session"),
            ("fastapi", "asgi_plain", "asgi_session"),
        ):
            kind = "flask" if side == "flask" else "asgi"
            with serve(kind, plain, env) as url:
                base = wrk(f"{url}/plain", args.seconds, None)
            rows.append((side, "no session layer", *base, 1.0))
            with serve(kind, session, env) as url:
                trips[side] = round_trips(url, server.url)
                cookie = httpx.get(f"{url}/write").cookies["ssid"]
                for label, path in (
                    ("read-only session", "/read"),
                    ("modifying session", "/write"),
                ):
                    result = wrk(f"{url}{path}", args.seconds, cookie)
                    rows.append((side, label, *result, result[0] / base[0]))
    finally:
        server.close()
    print(f"\nwrk -t1 -c10 -d{args.seconds}s, one worker per app, private redis-server\n")
    print("| app | request | req/s | p50 ms | p99 ms | throughput vs no session |")
    print("|---|---|---:|---:|---:|---:|")
    for side, label, rps, p50, p99, ratio in rows:
        print(f"| {side} | {label} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {ratio:.2f}x |")
    print("\n| app | round trips, read-only request | round trips, modifying request |")
    print("|---|---:|---:|")
    for side, (read, write) in trips.items():
        print(f"| {side} | {read} | {write} |")


if __name__ == "__main__":
    main()
