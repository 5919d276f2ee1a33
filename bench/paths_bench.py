"""The gateway's in-process paths against the same apps served alone, in one run.

    .venv/bin/python bench/paths_bench.py [--duration 5] [--rounds 5]

Needs ``wrk`` and the bench extra (``pip install -e '.[bench]'``: a2wsgi).
Every server has one worker and is pinned to CPU 0 with ``taskset``; ``wrk
-t1 -c10`` runs on CPU 1. All serve ``GET /json`` of ``bench/trivial_apps.py``
(``{"ok": true}``): the app's own work is as small as it gets, so the
server and the gateway are what is compared.

- fastapi:   the FastAPI app under gunicorn + ``uvicorn_worker.UvicornWorker``
- gw-new:    the gateway (same worker), the route flagged new: the same
             FastAPI app in-process (``ASGIBackend``)
- flask:     the Flask app under gunicorn sync
- a2wsgi:    the Flask app in ``a2wsgi.WSGIMiddleware`` under the UvicornWorker
- gw-legacy: the gateway, the route flagged legacy: Flask in-process (``WSGIBackend``)

Rounds are interleaved. Two figures per setup: req/s (wall clock, moved by
whatever else the machine runs) and the CPU time the server used per request
(user + system of its process group, from /proc), the steadier one on a
shared machine. Ratios are medians of the per-round ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.upstream_bench import group_cpu_seconds, gunicorn, pinned, wait_port, wrk  # noqa: E402
from tests.redis_server import free_port  # noqa: E402

PATH = "/json"
COMPARED = (("gw-new", "fastapi"), ("gw-legacy", "flask"), ("gw-legacy", "a2wsgi"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--only", help="comma-separated setups (default: all)")
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install -y wrk util-linux)")

    tmp = Path(tempfile.mkdtemp(prefix="paths-bench-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_") and k not in ("REDIS_URL", "WEB_CONCURRENCY")
    }
    gateway_env = env | {
        "GATEWAY_LEGACY_APP": "bench.trivial_apps:flask_app",
        "GATEWAY_NEW_APP": "bench.trivial_apps:fastapi_app",
        "GATEWAY_ADMIN_TOKEN": "bench-admin-token-0123456789abcdef",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp / "flags.json"),
        "GATEWAY_DRAIN_SECONDS": "0",
    }
    worker = ("-k", "uvicorn_worker.UvicornWorker")
    gateway = "gateway.app:create_gateway()"
    setups: dict[str, tuple[list[str], dict[str, str]]] = {
        "fastapi": (["bench.trivial_apps:fastapi_app", *worker], env),
        "gw-new": ([gateway, *worker], gateway_env | {"GATEWAY_DEFAULT_FLAG": "new"}),
        "flask": (["bench.trivial_apps:flask_app", "-k", "sync"], env),
        "a2wsgi": (["bench.trivial_apps:a2wsgi_app()", *worker], env),
        "gw-legacy": ([gateway, *worker], gateway_env | {"GATEWAY_DEFAULT_FLAG": "legacy"}),
    }
    if args.only:
        setups = {name: setups[name] for name in args.only.split(",")}
    ports = {name: free_port() for name in setups}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in setups}
    try:
        for name, ((app, *extra), process_env) in setups.items():
            command = gunicorn(ports[name], app, *extra)
            processes[name] = subprocess.Popen(
                pinned("0", command),
                env=process_env,
                cwd=ROOT,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
            )
        for name in setups:
            wait_port(ports[name], processes[name])
        expected = {"gw-new": "new", "gw-legacy": "legacy"}
        for name in setups:
            url = f"http://127.0.0.1:{ports[name]}{PATH}"
            check = httpx.get(url)
            assert check.status_code == 200 and check.json() == {"ok": True}, (name, check)
            assert check.headers.get("x-served-by") == expected.get(name), name
            wrk(url, args.connections, 2)  # warm-up
        groups = {process.pid for process in processes.values()}
        for _ in range(args.rounds):
            for name in setups:
                before = group_cpu_seconds(groups)
                load = wrk(f"http://127.0.0.1:{ports[name]}{PATH}", args.connections, args.duration)
                after = group_cpu_seconds(groups)
                pid = processes[name].pid
                load["cpu_us"] = (after[pid] - before[pid]) / max(load["requests"], 1) * 1e6
                results[name].append(load)
    finally:
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            process.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"\nGET {PATH}, wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} "
        "interleaved rounds, medians; server on CPU 0, wrk on CPU 1\n"
    )
    print("| setup | req/s | p50 / p99 ms | CPU µs/request | errors | req/s per round |")
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        m = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        rounds = ", ".join(f"{run['rps']:.0f}" for run in runs)
        print(
            f"| {name} | {m['rps']:.0f} | {m['p50']:.2f} / {m['p99']:.2f} | "
            f"{m['cpu_us']:.1f} | {m['errors']:.0f} | {rounds} |"
        )
    print()
    for gw, base in COMPARED:
        if gw not in results or base not in results:
            continue
        pairs = list(zip(results[gw], results[base], strict=True))
        by_rps = statistics.median(g["rps"] / b["rps"] for g, b in pairs)
        by_cpu = statistics.median(b["cpu_us"] / g["cpu_us"] for g, b in pairs)
        added = statistics.median(g["cpu_us"] - b["cpu_us"] for g, b in pairs)
        print(
            f"{gw} vs {base}: {by_rps:.3f}x by req/s, {by_cpu:.3f}x by CPU per request "
            f"({added:+.1f} µs/request)"
        )


if __name__ == "__main__":
    main()
