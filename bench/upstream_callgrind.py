"""Instructions per proxied request: the gateway in upstream mode and nginx, under callgrind.

    .venv/bin/python bench/upstream_callgrind.py [--requests 2000] [--upstream gthread]

Needs ``valgrind`` and ``nginx``. A gunicorn serving ``bench/upstream_app.py``
(``--upstream gthread``, keep-alive, or ``sync``, a new connection per
request) runs normally on CPU 1; in front of it the proxy runs under
``valgrind --tool=callgrind`` on CPU 0, twice: once serving 200 requests,
once 200 + ``--requests``, each sent by a keep-alive client on CPU 1 that
sends exactly that many ``GET /page`` (the request ``wrk`` sends) over
``--connections`` connections. The proxy's instruction count of the longer
run minus the shorter one, divided by ``--requests``, is what one request
costs it in user space (system calls' kernel time is not counted):
deterministic with ``PYTHONHASHSEED=0``, so a loaded machine does not move it.

- ``gw``: the gateway under gunicorn + ``uvicorn_worker.UvicornWorker``, 1
  worker, ``GATEWAY_LEGACY_UPSTREAM`` at the gunicorn, the route flagged
  legacy, as in ``bench/upstream_bench.py`` (no Redis: the flags come from
  the file store, which costs nothing per request);
- ``nginx``: ``bench/nginx-upstream.conf``, 1 worker;
- ``floor``: no proxy, the same page with the same response headers as a
  static ASGI app (``bench.upstream_app:page_app``) under the gateway's
  server: what uvicorn, uvloop and asyncio cost per request whatever the app,
  so ``gw`` minus ``floor`` is the gateway and its client;
- ``gw-static``: the gateway with the route flagged new and that static app
  as the new app: ``gw-static`` minus ``floor`` is the gateway's routing and
  headers, ``gw`` minus ``gw-static`` the upstream backend and its client.

The callgrind files stay in the printed directory for
``callgrind_annotate --inclusive=yes``. With ``--strace`` each proxy instead
runs under ``strace -c -f`` and the system calls per request are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
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
PATH = "/page"
BIN = Path(sys.executable).parent


def client(port: int, n: int, connections: int) -> int:
    """Send exactly ``n`` keep-alive GETs over ``connections`` sockets; return answers read."""
    return send_gets(port, PATH, n, connections, seconds=900, expect_200=True)


def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):  # start-up under valgrind takes a while
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"{process.args} exited with {process.returncode}") from None
            time.sleep(1)
    raise SystemExit(f"port {port} did not come up")


def tool(args: argparse.Namespace, out: Path, label: str) -> list[str]:
    if args.strace:
        return ["strace", "-f", "-c", "-o", str(out / f"{label}.strace")]
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/{label}.%p"]


def start_proxy(
    name: str, n: int, upstream_port: int, out: Path, args: argparse.Namespace
) -> tuple[subprocess.Popen[bytes], int]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_") and k not in ("REDIS_URL", "WEB_CONCURRENCY")
    }
    env["PYTHONHASHSEED"] = "0"
    port = free_port()
    label = f"{name}-{n}"
    if name in ("gw", "gw-static", "floor"):
        env |= {
            "GATEWAY_LEGACY_URL_MAP": "bench.upstream_app:app",
            "GATEWAY_NEW_APP": "bench.upstream_app:new_app",
            "GATEWAY_DEFAULT_FLAG": "legacy",
            "GATEWAY_ADMIN_TOKEN": "bench-admin-token-0123456789abcdef",
            "GATEWAY_DRAIN_SECONDS": "0",
            "GATEWAY_LEGACY_UPSTREAM": f"http://127.0.0.1:{upstream_port}",
            "GATEWAY_FLAG_CACHE_PATH": str(out / f"{label}-flags.json"),
        }
        if name == "gw-static":
            env |= {"GATEWAY_DEFAULT_FLAG": "new", "GATEWAY_NEW_APP": "bench.upstream_app:page_app"}
        app = "bench.upstream_app:page_app" if name == "floor" else "gateway.app:create_gateway()"
        command = [
            str(BIN / "python"), str(BIN / "gunicorn"),
            "-k", "uvicorn_worker.UvicornWorker", "--workers", "1", "--no-control-socket",
            "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app,
        ]  # fmt: skip
    else:
        prefix = out / label
        prefix.mkdir()
        conf = (ROOT / "bench" / "nginx-upstream.conf").read_text()
        # Only the server block for the chosen upstream is used; both listen.
        other = free_port()
        for key, value in {
            "TMP": str(prefix),
            "SYNC_PORT": upstream_port,
            "GTHREAD_PORT": upstream_port,
            "NGINX_SYNC_PORT": port if args.upstream == "sync" else other,
            "NGINX_GTHREAD_PORT": port if args.upstream == "gthread" else other,
        }.items():
            conf = conf.replace(f"@{key}@", str(value))
        (prefix / "nginx.conf").write_text(conf)
        command = ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    log = (out / f"{label}.log").open("wb")
    full = ["taskset", "-c", "0", *tool(args, out, label), *command]
    return subprocess.Popen(full, env=env, cwd=ROOT, stdout=log, stderr=log), port


def summary(path: Path) -> int:
    text = path.read_text(errors="replace")
    return int(re.search(r"^summary: (\d+)", text, re.M).group(1))  # type: ignore[union-attr]


def worker_file(out: Path, label: str, master: int) -> Path:
    """The callgrind file of the worker: the process that is not the one started."""
    files = [
        f for f in out.glob(f"{label}.*") if f.suffix[1:].isdigit() and int(f.suffix[1:]) != master
    ]
    (worker,) = files
    return worker


def strace_calls(path: Path) -> dict[str, int]:
    calls: dict[str, int] = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[-1] != "total" and fields[3].isdigit():
            calls[fields[-1]] = int(fields[3])
    return calls


def stop(proxy: subprocess.Popen[bytes], *, traced: bool) -> None:
    """SIGTERM the proxy (strace outlives a signal to itself: the traced master gets it)."""
    if not traced:
        proxy.terminate()
        return
    with open(f"/proc/{proxy.pid}/task/{proxy.pid}/children") as f:
        for child in f.read().split():
            os.kill(int(child), signal.SIGTERM)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--upstream", choices=("gthread", "sync"), default="gthread")
    parser.add_argument(
        "--proxies",
        nargs="+",
        choices=("gw", "nginx", "floor", "gw-static"),
        default=["gw", "nginx", "floor"],
    )
    parser.add_argument("--strace", action="store_true", help="count system calls instead")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn gthread threads")
    parser.add_argument("--client", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(client(*args.client))
        return
    for needed in ("valgrind" if not args.strace else "strace", "nginx", "taskset"):
        if not shutil.which(needed):
            raise SystemExit(f"{needed} is not installed")
    out = Path(tempfile.mkdtemp(prefix="upstream-callgrind-"))
    out.chmod(0o777)  # nginx's worker, run as root, drops to "nobody" and writes here
    upstream_port = free_port()
    worker = ["-k", "sync"] if args.upstream == "sync" else ["-k", "gthread"]
    if args.upstream == "gthread":
        worker += ["--threads", str(args.threads)]
    upstream = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            str(BIN / "gunicorn"),
            *worker,
            "--workers",
            "1",
            "--no-control-socket",
            "--bind",
            f"127.0.0.1:{upstream_port}",
            "--log-level",
            "warning",
            "bench.upstream_app:app",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    runs: dict[tuple[str, int], tuple[subprocess.Popen[bytes], int]] = {}
    try:
        wait_port(upstream_port, upstream)
        for name in args.proxies:
            for n in (BASE, BASE + args.requests):
                runs[(name, n)] = start_proxy(name, n, upstream_port, out, args)
        for (_name, n), (proxy, port) in runs.items():
            wait_port(port, proxy)
            run_pinned_client(__file__, port, n, args.connections)
    finally:
        for proxy, _ in runs.values():
            stop(proxy, traced=args.strace)
        for proxy, _ in runs.values():
            proxy.wait(timeout=120)
        upstream.terminate()
        upstream.wait(timeout=30)
    print(f"{args.upstream} upstream, {args.requests} requests, {out}")
    if args.strace:
        for name in args.proxies:
            short = strace_calls(out / f"{name}-{BASE}.strace")
            long = strace_calls(out / f"{name}-{BASE + args.requests}.strace")
            per = {
                call: (long.get(call, 0) - short.get(call, 0)) / args.requests
                for call in long
                if (long.get(call, 0) - short.get(call, 0)) / args.requests >= 0.01
            }
            total = sum(per.values())
            shown = ", ".join(f"{c} {v:.2f}" for c, v in sorted(per.items(), key=lambda i: -i[1]))
            print(f"{name}: {total:.2f} system calls per request ({shown})")
        return
    per_request = {}
    for name in args.proxies:
        counts = []
        for n in (BASE, BASE + args.requests):
            proxy = runs[(name, n)][0]
            label = f"{name}-{n}"
            # Under gunicorn (and nginx's master) the worker is the child.
            counts.append(summary(worker_file(out, label, proxy.pid)))
        per_request[name] = (counts[1] - counts[0]) / args.requests
        print(f"{name}: {per_request[name]:,.0f} instructions per request")
    if "gw" in per_request and "nginx" in per_request:
        print(f"gw / nginx: {per_request['gw'] / per_request['nginx']:.2f}x the instructions")
    if "gw" in per_request and "floor" in per_request:
        gateway = per_request["gw"] - per_request["floor"]
        print(f"gw - floor (the gateway and its client): {gateway:,.0f}")
    if "gw" in per_request and "gw-static" in per_request:
        backend = per_request["gw"] - per_request["gw-static"]
        print(f"gw - gw-static (the upstream backend and its client): {backend:,.0f}")


if __name__ == "__main__":
    main()
