"""How long a flip takes to be applied everywhere: call to last acknowledgement.

Starts two replicas of the gateway (two gunicorn servers on different ports,
``--workers`` each, replica names "a" and "b") sharing one Redis, waits until
every worker heartbeats, then flips a route ``--flips`` times through the
admin API (alternating replicas and flags). Each answer carries the flip
service's acknowledgement report: the seconds from the flip to the last
worker's acknowledgement, and the workers that did not acknowledge. Prints
p50 / p99 / max of that time and of the whole call. Usage:
``.venv/bin/python bench/flip_acks.py [--workers 4] [--flips 100]``
(Redis at ``$REDIS_URL`` or 127.0.0.1:6379; its keys get a fresh prefix and
are deleted afterwards).
"""

from __future__ import annotations

import argparse
import os
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

from tests.redis_server import free_port  # noqa: E402

BIN = Path(sys.executable).parent
TOKEN = "bench-" + uuid.uuid4().hex


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(workers: int, flips: int) -> None:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench:{uuid.uuid4().hex[:10]}:"
    tmp = Path(tempfile.mkdtemp(prefix="flip-acks-"))
    servers: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for replica in ("a", "b"):
            port = free_port()
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "GATEWAY_LEGACY_APP": "bench.metrics_overhead:legacy_app()",
                "GATEWAY_NEW_APP": "bench.metrics_overhead:new_app()",
                "GATEWAY_REDIS_URL": redis_url,
                "GATEWAY_FLAG_KEY": f"{prefix}flags",
                "GATEWAY_FLAG_CHANNEL": f"{prefix}channel",
                "GATEWAY_FLAG_CACHE_PATH": str(tmp / f"flags-{replica}.json"),
                "GATEWAY_ADMIN_TOKEN": TOKEN,
                "GATEWAY_REPLICA_NAME": replica,
                "GATEWAY_METRICS_DIR": str(tmp / f"metrics-{replica}"),
                "GATEWAY_ROLLBACK_ENABLED": "false",
            }
            command = [
                str(BIN / "gunicorn"), "-k", "uvicorn_worker.UvicornWorker",
                "--no-control-socket", "-w", str(workers), "-b", f"127.0.0.1:{port}",
                "--log-level", "warning", "gateway.app:create_gateway()",
            ]  # fmt: skip
            log = (tmp / f"{replica}.log").open("wb")
            process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
            servers.append((process, f"http://127.0.0.1:{port}"))
        client = redis.Redis.from_url(redis_url)
        expected = 2 * workers
        deadline = time.monotonic() + 120
        while client.zcard(f"{prefix}flags:workers") < expected:
            if time.monotonic() > deadline or any(p.poll() is not None for p, _ in servers):
                raise SystemExit(f"not every worker came up; logs in {tmp}")
            time.sleep(0.2)
        acked: list[float] = []
        calls: list[float] = []
        incomplete = 0
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(timeout=30) as http:
            for i in range(flips):
                url = servers[i % 2][1]
                flag = "new" if i % 2 == 0 else "legacy"
                started = time.perf_counter()
                answer = http.put(
                    f"{url}/_gateway/flags/items.show", json={"flag": flag}, headers=headers
                )
                calls.append(time.perf_counter() - started)
                answer.raise_for_status()
                report = answer.json()["acks"]
                acked.append(report["seconds"])
                if not report["complete"] or len(report["acked"]) != expected:
                    incomplete += 1
        print(f"{flips} flips, 2 replicas x {workers} workers, Redis at {redis_url}\n")
        print("| measure | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|")
        for name, values in (("flip to last acknowledgement", acked), ("whole API call", calls)):
            print(
                f"| {name} | {statistics.median(values) * 1000:.1f} | "
                f"{quantile(values, 0.99) * 1000:.1f} | {max(values) * 1000:.1f} |"
            )
        print(f"\nflips not acknowledged by all {expected} workers: {incomplete}")
    finally:
        for process, _ in servers:
            process.terminate()
        for process, _ in servers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        cleanup = redis.Redis.from_url(redis_url)
        keys = list(cleanup.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            cleanup.delete(*keys)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--flips", type=int, default=100)
    args = parser.parse_args()
    main(args.workers, args.flips)
