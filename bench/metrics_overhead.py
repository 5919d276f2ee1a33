"""What the gateway's metrics cost on the new path: throughput on against off.

Gateways in one process over the same FastAPI app (route flagged new,
called in-process through the ASGI backend): metrics and rollback windows
off (nothing watches answers), a second such instance whose difference from
the first shows the noise floor, metrics on, and the defaults (metrics and
rollback windows on). Rounds are interleaved, each starting with another
setup, so machine noise hits all alike; each round times ``--requests`` sequential
requests through ``Gateway.__call__``. Prints each setup's median req/s
(wall clock, and per CPU second of the thread, steadier on a shared machine)
and its ratio to "off", and the CPU cost of each setup's best round: other
load on the machine only ever adds time, so the best of many rounds is the
closest to the uncontended cost. Last, the observation's own cost, measured
alone against a backend that answers at once, and the throughput ratio it
implies on this path: the steadiest figure when the machine is shared. No
HTTP server: its parsing cost would hide the difference, so the ratio is a
conservative (lower) bound. Usage:
``.venv/bin/python bench/metrics_overhead.py [--rounds 24] [--requests 3000]``.

``--http``: the same setups as real servers (uvicorn, one process each, on
loopback), loaded in turn by ``wrk -t1 -c10 -d<seconds>`` for ``--rounds``
interleaved rounds; the median req/s of each and its ratio to "off".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi import FastAPI
from flask import Flask

from gateway.app import Gateway, create_gateway
from gateway.decision import Decision
from gateway.observing import RequestObserver
from gateway.settings import GatewaySettings


def legacy_app() -> Flask:
    app = Flask("bench_legacy")
    app.add_url_rule("/items/<int:item_id>", "items.show", lambda item_id: "legacy")
    return app


def new_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}", name="items.show")
    async def show(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    return app


SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/items/42",
    "raw_path": b"/items/42",
    "root_path": "",
    "query_string": b"",
    "client": ("127.0.0.1", 1),
    "server": ("127.0.0.1", 80),
    "headers": [(b"host", b"example.org"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
}


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    return None


class Instant:
    """A backend that answers at once: what remains of a call is the observer's cost."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def observation_cost_us(rounds: int = 15, n: int = 20_000) -> float:
    """CPU µs one request pays for being observed (metrics and rollback windows).

    The same decision's backend called directly and through the observer,
    interleaved; the best round of each, since load only ever adds time.
    """
    decision = Decision(Instant(), b"new", "items.show", "items.show")
    observer = RequestObserver()

    async def per_call(observed: bool) -> float:
        cpu = time.thread_time()
        for _ in range(n):
            if observed:
                await observer(decision, dict(SCOPE), receive, send)
            else:
                await decision.backend(dict(SCOPE), receive, send)
        return (time.thread_time() - cpu) / n * 1e6

    direct, observed = [], []
    for _ in range(rounds):
        direct.append(await per_call(False))
        observed.append(await per_call(True))
    return min(observed) - min(direct)


async def requests_per_second(gateway: Gateway, n: int) -> tuple[float, float]:
    """Requests per wall-clock second and per CPU second of this thread."""
    started, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        await gateway(dict(SCOPE), receive, send)
    return n / (time.perf_counter() - started), n / (time.thread_time() - cpu)


def build(**overrides: Any) -> Gateway:
    settings = GatewaySettings(
        flag_cache_path=None, redis_url=None, flags={"items.show": "new"}, **overrides
    )
    return create_gateway(settings, legacy_app=legacy_app(), new_app=new_app())


async def main(rounds: int, n: int) -> None:
    setups = {
        "off (metrics and rollback windows off)": build(
            metrics_enabled=False, rollback_enabled=False
        ),
        "off again (a second instance: the noise floor)": build(
            metrics_enabled=False, rollback_enabled=False
        ),
        "metrics on": build(metrics_enabled=True, rollback_enabled=False),
        "defaults (metrics + rollback windows)": build(),
    }
    for gateway in setups.values():
        await gateway.startup()
    try:
        for gateway in setups.values():  # warm up every code path and cache
            await requests_per_second(gateway, n // 5)
        wall: dict[str, list[float]] = {name: [] for name in setups}
        cpu: dict[str, list[float]] = {name: [] for name in setups}
        names = list(setups)
        for round_ in range(rounds):
            # Each round starts with another setup: no one always goes first.
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                per_wall, per_cpu = await requests_per_second(setups[name], n)
                wall[name].append(per_wall)
                cpu[name].append(per_cpu)
    finally:
        for gateway in setups.values():
            await gateway.shutdown()
    off = "off (metrics and rollback windows off)"
    base_wall, base_cpu = statistics.median(wall[off]), statistics.median(cpu[off])
    best_off = max(cpu[off])
    print(f"{rounds} interleaved rounds of {n} requests, new path (FastAPI in-process)\n")
    print(
        "| setup | req/s (wall, median) | vs off | req per CPU second (median) | vs off "
        "| CPU µs/request (best round) | vs off (best rounds) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in setups:
        w, c, best = statistics.median(wall[name]), statistics.median(cpu[name]), max(cpu[name])
        print(
            f"| {name} | {w:,.0f} | {w / base_wall:.3f}x | {c:,.0f} | {c / base_cpu:.3f}x "
            f"| {1e6 / best:.1f} | {best / best_off:.3f}x |"
        )
    added = await observation_cost_us()
    base = 1e6 / best_off
    print(
        f"\nObservation alone (metrics and rollback windows count in the same rows): "
        f"{added:.2f} CPU µs per request; on this new path ({base:.1f} µs per request "
        f"when off) that is {base / (base + added):.3f}x throughput."
    )


HTTP_SETUPS = {
    "off (metrics and rollback windows off)": {
        "METRICS_ENABLED": "false",
        "ROLLBACK_ENABLED": "false",
    },
    "off again (a second server: the noise floor)": {
        "METRICS_ENABLED": "false",
        "ROLLBACK_ENABLED": "false",
    },
    "metrics on": {"METRICS_ENABLED": "true", "ROLLBACK_ENABLED": "false"},
    "defaults (metrics + rollback windows)": {},
}


def wrk_rps(url: str, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", "-c10", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    found = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if found is None:
        raise RuntimeError(f"no throughput in wrk output:\n{out}")
    return float(found.group(1))


def http_main(rounds: int, seconds: int) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    from tests.redis_server import free_port

    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="metrics-bench-"))
    try:
        for index, (name, extra) in enumerate(HTTP_SETUPS.items()):
            port = free_port()
            env = {
                **os.environ,
                "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
                "GATEWAY_LEGACY_APP": "bench.metrics_overhead:legacy_app()",
                "GATEWAY_NEW_APP": "bench.metrics_overhead:new_app()",
                "GATEWAY_FLAGS": '{"items.show": "new"}',
                "GATEWAY_REDIS_URL": "",
                "GATEWAY_FLAG_CACHE_PATH": str(tmp / f"flags-{index}.json"),
                **{f"GATEWAY_{k}": v for k, v in extra.items()},
            }
            command = [
                sys.executable, "-m", "uvicorn", "gateway.app:create_gateway", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                "--no-access-log",
            ]  # fmt: skip
            log = (tmp / f"server-{index}.log").open("wb")
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            servers[name] = (process, f"http://127.0.0.1:{port}/items/42")
        for process, url in servers.values():
            deadline = time.monotonic() + 120  # four servers start at once on a busy machine
            while True:
                try:
                    httpx.get(url, timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError(f"server for {url} did not start") from None
                    time.sleep(0.2)
        for _, url in servers.values():
            wrk_rps(url, 1)  # warm up
        results: dict[str, list[float]] = {name: [] for name in servers}
        names = list(servers)
        for round_ in range(rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                results[name].append(wrk_rps(servers[name][1], seconds))
    finally:
        for process, _ in servers.values():
            process.terminate()
        for process, _ in servers.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    off = "off (metrics and rollback windows off)"
    baseline = statistics.median(results[off])
    print(f"{rounds} interleaved rounds of wrk -t1 -c10 -d{seconds}s, new path over HTTP\n")
    print("| setup | median req/s | vs off | every round |\n|---|---:|---:|---|")
    for name, values in results.items():
        median = statistics.median(values)
        every = ", ".join(f"{v:.0f}" for v in values)
        print(f"| {name} | {median:,.0f} | {median / baseline:.3f}x | {every} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--http", action="store_true", help="real servers loaded by wrk")
    parser.add_argument("--seconds", type=int, default=3, help="--http: wrk duration per round")
    args = parser.parse_args()
    if args.http:
        http_main(args.rounds, args.seconds)
    else:
        asyncio.run(main(args.rounds, args.requests))
