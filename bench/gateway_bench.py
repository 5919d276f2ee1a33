"""Gateway benchmark: what the gateway adds on each path, measured in one run.

    .venv/bin/python bench/gateway_bench.py [--duration 8] [--rounds 2]

Servers (one worker each, pinned to CPU 0; wrk pinned to CPU 1), all serving
the same logged-in page (``/profile``: session read from the same Redis):

- flask:       legacy_flask under gunicorn sync (the baseline for the legacy path)
- gw-legacy:   the gateway under gunicorn + uvicorn worker, Flask in-process
- fastapi:     new_fastapi under gunicorn + uvicorn worker (baseline for the new path)
- gw-new:      the gateway, every route flagged new
- gw-upstream: the gateway forwarding to the flask server over HTTP (informational:
               two processes share CPU 0)

Throughput: ``wrk -t1 -c<connections>``; latency: ``wrk -t1 -c1`` (no queueing),
so "added latency" is what one request pays. Each configuration is measured
``--rounds`` times, interleaved; the median is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.devstack import oidc_provider  # noqa: E402
from tests.redis_server import free_port  # noqa: E402

BIN = ROOT / ".venv" / "bin"
UVICORN_WORKER = ["-k", "uvicorn_worker.UvicornWorker"]


def pinned(cpu: str, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *command] if shutil.which("taskset") else command


def gunicorn(port: int, app: str, *worker: str) -> list[str]:
    return [str(BIN / "gunicorn"), *worker, "--workers", "1", "--no-control-socket",
            "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app]  # fmt: skip


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{url} did not come up") from None
            time.sleep(0.1)


def login_cookie(base: str, user: str) -> str:
    """Log in once through the legacy app; the session lives in the shared Redis."""
    with httpx.Client(timeout=10) as client:
        to_provider = client.get(f"{base}/login")
        authorize = to_provider.headers["location"]
        back = client.post(authorize, data={"sub": user})
        client.get(back.headers["location"])
        return "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, connections: int, duration: int, cookie: str) -> dict[str, float]:
    command = pinned("1", ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
                           "-H", f"Cookie: {cookie}", url])  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        result[f"p{pct}"] = float(value) * _UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["errors"] = float(errors.group(1)) if errors else 0.0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--path", default="/profile")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    oidc_port = free_port()
    ports = {name: free_port() for name in ("flask", "gw-legacy", "fastapi", "gw-new",
                                              "gw-upstream")}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {
        "OIDC_ISSUER": f"http://127.0.0.1:{oidc_port}",
        "REDIS_URL": redis_url,
        "SHARED_SESSION_KEY_PREFIX": prefix,
        "NOTES_DB_PATH": str(tmp / "notes.sqlite3"),
        "SECRET_KEY": "bench-secret",
        "GATEWAY_FLAG_CACHE_PATH": str(tmp / "flags.json"),
    }
    gateway = "gateway.app:create_gateway()"
    sync = ("--worker-class", "sync")
    servers = {
        "flask": (gunicorn(ports["flask"], "legacy_flask:create_app()", *sync), {}),
        "gw-legacy": (
            gunicorn(ports["gw-legacy"], gateway, *UVICORN_WORKER),
            {"GATEWAY_DEFAULT_FLAG": "legacy"},
        ),
        "fastapi": (gunicorn(ports["fastapi"], "new_fastapi:create_app()", *UVICORN_WORKER), {}),
        "gw-new": (
            gunicorn(ports["gw-new"], gateway, *UVICORN_WORKER),
            {"GATEWAY_DEFAULT_FLAG": "new"},
        ),
        "gw-upstream": (
            gunicorn(ports["gw-upstream"], gateway, *UVICORN_WORKER),
            {
                "GATEWAY_DEFAULT_FLAG": "legacy",
                "GATEWAY_LEGACY_UPSTREAM": f"http://127.0.0.1:{ports['flask']}",
                "GATEWAY_LEGACY_URL_MAP": "legacy_flask:create_app()",
            },
        ),
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, list[dict[str, float]]] = {}
    with oidc_provider("127.0.0.1", oidc_port):
        try:
            for name, (command, extra) in servers.items():
                processes[name] = subprocess.Popen(
                    pinned("0", command), env=env | extra, cwd=tmp, start_new_session=True
                )
            for name, process in processes.items():
                wait_up(f"http://127.0.0.1:{ports[name]}/", process)
            cookie = login_cookie(f"http://127.0.0.1:{ports['flask']}", "alice")
            expected = {"gw-legacy": "legacy", "gw-new": "new", "gw-upstream": "legacy"}
            for name in servers:
                url = f"http://127.0.0.1:{ports[name]}{args.path}"
                check = httpx.get(url, headers={"Cookie": cookie})
                assert check.status_code == 200 and "alice" in check.text, (name, check.status_code)
                assert check.headers.get("x-served-by") == expected.get(name), name
                wrk(url, args.connections, 2, cookie)  # warm-up
            for _ in range(args.rounds):
                for name in servers:
                    url = f"http://127.0.0.1:{ports[name]}{args.path}"
                    load = wrk(url, args.connections, args.duration, cookie)
                    single = wrk(url, 1, max(1, args.duration // 2), cookie)
                    results.setdefault(name, []).append(
                        {"rps": load["rps"], "errors": load["errors"] + single["errors"],
                         "p50_loaded": load["p50"], "p99_loaded": load["p99"],
                         "p50": single["p50"], "p99": single["p99"], "rps_c1": single["rps"]}
                    )  # fmt: skip
        finally:
            for process in processes.values():
                os.killpg(process.pid, signal.SIGTERM)
            for process in processes.values():
                process.wait(timeout=15)
            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
            shutil.rmtree(tmp, ignore_errors=True)

    median = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    print(f"\nGET {args.path} (logged in), wrk -t1 -c{args.connections} -d{args.duration}s "
          f"and -c1, {args.rounds} rounds, medians\n")  # fmt: skip
    c = args.connections
    print(f"| setup | req/s (c={c}) | p50 / p99 ms (c={c}) | req/s (c=1) | p50 / p99 ms (c=1) | errors |")  # fmt: skip  # noqa: E501
    print("|---|---|---|---|---|---|")
    for name, m in median.items():
        loaded = f"{m['p50_loaded']:.2f} / {m['p99_loaded']:.2f}"
        single = f"{m['p50']:.3f} / {m['p99']:.3f}"
        cells = [
            name,
            f"{m['rps']:.0f}",
            loaded,
            f"{m['rps_c1']:.0f}",
            single,
            f"{m['errors']:.0f}",
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    for gw, base in (("gw-legacy", "flask"), ("gw-new", "fastapi"), ("gw-upstream", "flask")):
        g, b = median[gw], median[base]
        print(f"{gw} vs {base}: throughput {g['rps'] / b['rps']:.3f}x "
              f"(gateway overhead {100 * (1 - g['rps'] / b['rps']):+.1f} %), "
              f"added latency c=1 p50 {1000 * (g['p50'] - b['p50']):+.0f} us, "
              f"p99 {1000 * (g['p99'] - b['p99']):+.0f} us")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"median": median, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
