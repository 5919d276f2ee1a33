"""Instructions per request of a whole server worker: the FastAPI app alone and the gateway.

    .venv/bin/python bench/worker_callgrind.py [--requests 2000] [--connections 10]
        [--setups fastapi,gw-new,gw-new-nometrics]

Needs ``valgrind``. Starts each setup of ``bench/paths_bench.py`` (``fastapi``:
the app under gunicorn + ``uvicorn_worker.UvicornWorker``; ``gw-new``: the
gateway under the same worker, the route flagged new) under
``valgrind --tool=callgrind`` on CPU 0, twice: once serving 200 requests, once
200 + ``--requests``, each sent by a keep-alive client on CPU 1 that sends
exactly that many ``GET /json`` over ``--connections`` connections. The
worker's instruction count of the longer run minus the shorter one, divided
by ``--requests``, is what one request costs the whole worker (uvicorn,
uvloop, httptools, the app, the gateway, and whatever runs in the background
meanwhile): deterministic with ``PYTHONHASHSEED=0``, so a loaded machine
does not move it. The callgrind files stay in the printed directory for
``callgrind_annotate --inclusive=yes``.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.keepalive_client import run_pinned_client, send_gets  # noqa: E402
from tests.redis_server import free_port  # noqa: E402

BASE = 200
GATEWAY_ENV = {
    "GATEWAY_LEGACY_APP": "bench.trivial_apps:flask_app",
    "GATEWAY_NEW_APP": "bench.trivial_apps:fastapi_app",
    "GATEWAY_ADMIN_TOKEN": "bench-admin-token-0123456789abcdef",
    "GATEWAY_DRAIN_SECONDS": "0",
    "GATEWAY_DEFAULT_FLAG": "new",
}
NO_METRICS_ENV = GATEWAY_ENV | {
    "GATEWAY_METRICS_ENABLED": "false",
    "GATEWAY_ROLLBACK_ENABLED": "false",
}
SETUPS = {
    "fastapi": ("bench.trivial_apps:fastapi_app", {}),
    "gw-new": ("gateway.app:create_gateway()", GATEWAY_ENV),
    "gw-new-nometrics": ("gateway.app:create_gateway()", NO_METRICS_ENV),
}


def client(port: int, n: int, connections: int) -> int:
    """Send exactly ``n`` keep-alive GETs over ``connections`` sockets; return answers read."""
    # The worker may still be starting under valgrind: a long wait.
    return send_gets(port, "/json", n, connections, seconds=3600)


def run(name: str, n: int, out: Path, connections: int) -> subprocess.Popen[bytes]:
    app, extra_env = SETUPS[name]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_") and k not in ("REDIS_URL", "WEB_CONCURRENCY")
    }
    env |= extra_env | {"PYTHONHASHSEED": "0"}
    env["GATEWAY_FLAG_CACHE_PATH"] = str(out / f"{name}-{n}-flags.json")
    port = free_port()
    bin_dir = Path(sys.executable).parent
    command = [
        "taskset", "-c", "0", "valgrind", "--tool=callgrind",
        f"--callgrind-out-file={out}/{name}-{n}.%p",
        str(bin_dir / "python"), str(bin_dir / "gunicorn"),
        "-k", "uvicorn_worker.UvicornWorker", "--workers", "1", "--no-control-socket",
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        # Under valgrind on a loaded machine a client can take longer than
        # the default 2 s between requests: keep its connections open.
        "--keep-alive", "600", app,
    ]  # fmt: skip
    log = (out / f"{name}-{n}.log").open("wb")
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    server.port = port  # type: ignore[attr-defined]
    server.n = n  # type: ignore[attr-defined]
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument(
        "--setups",
        default=",".join(SETUPS),
        help=f"comma-separated, of {', '.join(SETUPS)} (default: all)",
    )
    parser.add_argument("--client", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(client(*args.client))
        return
    names = [name.strip() for name in args.setups.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SETUPS))
    if unknown or not names:
        parser.error(f"unknown setups {unknown}: choose from {', '.join(SETUPS)}")
    out = Path(tempfile.mkdtemp(prefix="worker-callgrind-"))
    servers = {
        (name, n): run(name, n, out, args.connections)
        for name in names
        for n in (BASE, BASE + args.requests)
    }
    for (_name, n), server in servers.items():
        port = server.port  # type: ignore[attr-defined]
        for _ in range(600):  # start-up under valgrind takes a while
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        run_pinned_client(__file__, port, n, args.connections)
    for server in servers.values():
        server.terminate()
    for server in servers.values():
        server.wait(timeout=120)
    counts: dict[tuple[str, int], int] = {}
    for (name, n), server in servers.items():
        # The worker is the process that is not the master (the pid we started).
        files = [
            f for f in out.glob(f"{name}-{n}.*") if f.suffix[1:].isdigit()
            and int(f.suffix[1:]) != server.pid
        ]  # fmt: skip
        (worker,) = files
        text = worker.read_text(errors="replace")
        counts[(name, n)] = int(re.search(r"^summary: (\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    per_request = {
        name: (counts[(name, BASE + args.requests)] - counts[(name, BASE)]) / args.requests
        for name in names
    }
    print(f"instructions per request of the whole worker ({args.requests} requests), {out}")
    for name, value in per_request.items():
        print(f"{name}: {value:,.0f}")
    pairs = (("gw-new", "fastapi"), ("gw-new-nometrics", "fastapi"), ("gw-new", "gw-new-nometrics"))
    for slower, faster in pairs:
        if slower in per_request and faster in per_request:
            a, b = per_request[faster], per_request[slower]
            print(f"{slower} / {faster}: {a / b:.3f}x by instructions ({b - a:+,.0f}/request)")


if __name__ == "__main__":
    main()
