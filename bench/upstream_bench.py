"""Upstream mode against nginx, in one run: the gateway as the proxy in front of gunicorn.

    .venv/bin/python bench/upstream_bench.py [--duration 8] [--rounds 3]

Needs ``wrk`` and ``nginx`` (``apt-get install -y wrk nginx``) and
``redis-server``. Everything on the server side is pinned to CPU 0 with
``taskset`` (both gunicorns, nginx, both gateways, a private redis-server for
the gateways' flags); ``wrk -t1 -c10`` runs on CPU 1. Every setup serves the
same page, ``GET /page`` of ``bench/upstream_app.py`` (a small Jinja template):

- flask-sync / flask-gthread: gunicorn alone, 1 worker, sync or gthread;
- nginx-sync / nginx-gthread: nginx (``bench/nginx-upstream.conf``, 1 worker,
  keep-alive upstream for gthread) in front of the same gunicorn;
- gw-sync / gw-gthread: the gateway under gunicorn + ``uvicorn_worker.UvicornWorker``,
  1 worker, ``GATEWAY_LEGACY_UPSTREAM`` pointing at the same gunicorn, the
  route flagged legacy.

Rounds are interleaved and medians reported. Beside req/s, the CPU time the
server side used per request (all pinned processes, from /proc) is printed:
on a machine shared with other work, wall-clock rates are noisy, while CPU
per request still says which setup would be faster on an idle core.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.redis_server import free_port  # noqa: E402

BIN = ROOT / ".venv" / "bin"
PATH = "/page"
TICKS = os.sysconf("SC_CLK_TCK")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def pinned(cpu: str, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *command]


def gunicorn(port: int, app: str, *worker: str) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        *worker,
        "--workers",
        "1",
        "--no-control-socket",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        app,
    ]


def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:  # bounded by the deadline
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"port {port} did not come up ({process.args})")
        time.sleep(0.05)


def group_cpu_seconds(groups: set[int]) -> dict[int, float]:
    """user + system CPU seconds of every live process, summed per process group."""
    total = dict.fromkeys(groups, 0)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # After the command: state ppid pgrp ... utime (12th) stime (13th).
        group = int(fields[2])
        if group in total:
            total[group] += int(fields[11]) + int(fields[12])
    return {group: ticks / TICKS for group, ticks in total.items()}


def wrk(url: str, connections: int, duration: int) -> dict[str, float]:
    command = pinned("1", ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url])
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    }
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        result[f"p{pct}"] = float(value) * _UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    result["errors"] = float(errors.group(1)) if errors else 0.0
    if socket_errors:
        result["errors"] += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--threads", type=int, default=16, help="gunicorn gthread threads")
    args = parser.parse_args()
    for tool in ("wrk", "nginx", "redis-server", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install -y wrk nginx redis-server)")

    tmp = Path(tempfile.mkdtemp(prefix="upstream-bench-"))
    names = [
        "flask-sync",
        "flask-gthread",
        "nginx-sync",
        "nginx-gthread",
        "gw-sync",
        "gw-gthread",
        "redis",
    ]
    ports = {name: free_port() for name in names}
    conf = (ROOT / "bench" / "nginx-upstream.conf").read_text()
    for key, value in {
        "TMP": str(tmp),
        "SYNC_PORT": ports["flask-sync"],
        "GTHREAD_PORT": ports["flask-gthread"],
        "NGINX_SYNC_PORT": ports["nginx-sync"],
        "NGINX_GTHREAD_PORT": ports["nginx-gthread"],
    }.items():
        conf = conf.replace(f"@{key}@", str(value))
    (tmp / "nginx.conf").write_text(conf)

    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    gateway_env = env | {
        "GATEWAY_LEGACY_URL_MAP": "bench.upstream_app:app",
        "GATEWAY_NEW_APP": "bench.upstream_app:new_app",
        "GATEWAY_DEFAULT_FLAG": "legacy",
        "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "GATEWAY_ADMIN_TOKEN": "bench-admin-token",
        "GATEWAY_DRAIN_SECONDS": "0",
    }
    uvicorn_worker = ("-k", "uvicorn_worker.UvicornWorker")
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "redis": (
            [
                "redis-server",
                "--port",
                str(ports["redis"]),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            env,
        ),
        "flask-sync": (gunicorn(ports["flask-sync"], "bench.upstream_app:app", "-k", "sync"), env),
        "flask-gthread": (
            gunicorn(
                ports["flask-gthread"],
                "bench.upstream_app:app",
                "-k",
                "gthread",
                "--threads",
                str(args.threads),
            ),
            env,
        ),
        "nginx": (["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf")], env),
    }
    for side in ("sync", "gthread"):
        commands[f"gw-{side}"] = (
            gunicorn(ports[f"gw-{side}"], "gateway.app:create_gateway()", *uvicorn_worker),
            gateway_env
            | {
                "GATEWAY_LEGACY_UPSTREAM": f"http://127.0.0.1:{ports[f'flask-{side}']}",
                "GATEWAY_FLAG_CACHE_PATH": str(tmp / f"flags-{side}.json"),
            },
        )
    setups = ["flask-sync", "nginx-sync", "gw-sync", "flask-gthread", "nginx-gthread", "gw-gthread"]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in setups}
    try:
        for name, (command, process_env) in commands.items():
            processes[name] = subprocess.Popen(
                pinned("0", command),
                env=process_env,
                cwd=ROOT,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
            )
        for name in [*setups, "redis"]:
            wait_port(ports[name], processes["nginx" if name.startswith("nginx") else name])
        groups = {process.pid for process in processes.values()}
        reference = httpx.get(f"http://127.0.0.1:{ports['flask-sync']}{PATH}").text
        for name in setups:
            url = f"http://127.0.0.1:{ports[name]}{PATH}"
            check = httpx.get(url)
            assert check.status_code == 200 and check.text == reference, (name, check.status_code)
            if name.startswith("gw-"):
                assert check.headers.get("x-served-by") == "legacy", name
            wrk(url, args.connections, 2)  # warm-up
        for _ in range(args.rounds):
            for name in setups:
                url = f"http://127.0.0.1:{ports[name]}{PATH}"
                before = group_cpu_seconds(groups)
                load = wrk(url, args.connections, args.duration)
                after = group_cpu_seconds(groups)
                requests = max(load["requests"], 1)
                used = {group: after[group] - before[group] for group in groups}
                load["cpu_us"] = sum(used.values()) / requests * 1e6
                proxy = processes["nginx" if name.startswith("nginx") else name].pid
                load["proxy_us"] = used[proxy] / requests * 1e6
                results[name].append(load)
    finally:
        # Newest first, so the gateways stop before the redis they watch.
        for process in reversed(processes.values()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)

    median = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    print(
        f"\nGET {PATH} (template page), wrk -t1 -c{args.connections} -d{args.duration}s, "
        f"{args.rounds} interleaved rounds, medians; server side on CPU 0, wrk on CPU 1\n"
    )
    print("| setup | req/s | p50 / p99 ms | CPU us/req (proxy) | errors | req/s per round |")
    print("|---|---|---|---|---|---|")
    for name, m in median.items():
        rounds = ", ".join(f"{run['rps']:.0f}" for run in results[name])
        print(
            f"| {name} | {m['rps']:.0f} | {m['p50']:.2f} / {m['p99']:.2f} | "
            f"{m['cpu_us']:.0f} ({m['proxy_us']:.0f}) | {m['errors']:.0f} | {rounds} |"
        )
    print()
    for side in ("sync", "gthread"):
        gw, ngx, flask = median[f"gw-{side}"], median[f"nginx-{side}"], median[f"flask-{side}"]
        print(
            f"{side}: gateway/nginx {gw['rps'] / ngx['rps']:.3f}x req/s "
            f"({ngx['cpu_us'] / gw['cpu_us']:.3f}x by CPU per request); "
            f"gateway/flask {gw['rps'] / flask['rps']:.3f}x; "
            f"nginx/flask {ngx['rps'] / flask['rps']:.3f}x"
        )


if __name__ == "__main__":
    main()
