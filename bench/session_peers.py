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

``--callgrind N`` measures instead what one request costs the server process
in instructions, deterministically (a loaded machine does not move it; needs
``valgrind``). Each contender runs three times at once under
``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0`` on core 0: every run
gets ``--warmup`` read-only and modifying requests, the second then N
read-only ones, the third N read-only and N modifying ones, all sent by a
client on core 1 over ``--connections`` connections (like wrk's ``-c10``;
gunicorn's sync worker closes each one after its answer). The differences of
the serving process's totals (gunicorn's worker, not its arbiter; every
thread), divided by N, are the costs of one read-only and one modifying
request: the app, the framework, the HTTP server and the Redis client, all
that runs on the server's core. ``redis-server`` runs under callgrind too (on
core 1); its instructions per request, read with ``callgrind_control``, are
printed beside (they are not on the server's core in the wall-clock layout).
``--side`` and ``--only`` restrict the run to one side or one contender.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
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


def client(port: int, path: str, cookie: str, n: int, connections: int) -> int:
    """Send exactly ``n`` GETs of ``path`` over ``connections`` sockets (a new
    one whenever the server closes one); return the 200 answers read."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    sent = ok = done = 0

    def open_one() -> None:
        nonlocal sent
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, bytearray())
        sock.sendall(request)
        sent += 1

    for _ in range(min(connections, n)):
        open_one()
    deadline = time.monotonic() + 1800
    while done < n and time.monotonic() < deadline:
        for key, _ in selector.select(10):
            sock, buffer = key.fileobj, key.data
            assert isinstance(sock, socket.socket)
            chunk = sock.recv(65536)
            buffer += chunk
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                head = bytes(buffer[:end]).lower()
                length = int(re.search(rb"content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                if len(buffer) < end + 4 + length:
                    break
                del buffer[: end + 4 + length]
                done += 1
                ok += head.startswith(b"http/1.1 200")
                if b"\r\nconnection: close" in head:
                    selector.unregister(sock)
                    sock.close()
                    if sent < n:
                        open_one()
                    break
                if sent < n:
                    sock.sendall(request)
                    sent += 1
            else:
                if not chunk:
                    raise RuntimeError("the server closed a connection early")
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    return ok


def instructions(pid: int) -> int:
    """The instructions ``pid`` (running under callgrind) has run so far, all threads."""
    out = subprocess.run(
        ["callgrind_control", "-e", "Ir", str(pid)], capture_output=True, text=True, check=True
    ).stdout
    counts = re.findall(r"^\s*Th \d+\s+([\d,]+)", out, re.M)
    if not counts:
        raise RuntimeError(f"callgrind_control gave no counts for {pid}:\n{out}")
    return sum(int(c.replace(",", "")) for c in counts)


def callgrind_total(out: Path, tag: str, pid: int) -> int:
    """Instructions of the serving process of a finished run: gunicorn's
    worker (the file that is not its arbiter's), else the only one."""
    files = list(out.glob(f"{tag}.*"))
    if len(files) > 1 or tag.startswith("flask"):
        files = [f for f in files if f.suffix[1:] != str(pid)]
    if len(files) != 1:
        raise RuntimeError(f"expected one callgrind file of the worker of {tag}: {files}")
    (worker,) = files
    text = worker.read_text(errors="replace")
    return int(re.search(r"^summary: (\d+)", text, re.M).group(1))  # type: ignore[union-attr]


def start_under_callgrind(
    kind: str, factory: str, env: dict[str, str], out: Path, tag: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    if kind == "flask":
        cmd = [
            str(VENV_BIN / "gunicorn"), "--no-control-socket", "-w", "1", "-k", "sync",
            "-b", f"127.0.0.1:{port}", "--log-level", "warning",
            "--timeout", "900", "--graceful-timeout", "900",
            f"bench.session_apps:{factory}()",
        ]  # fmt: skip
    else:
        cmd = [
            str(VENV_BIN / "uvicorn"), "--factory", f"bench.session_apps:{factory}",
            "--port", str(port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CORE, "valgrind", "--tool=callgrind", "--dump-instr=no",
         f"--callgrind-out-file={out}/{tag}.%p", str(VENV_BIN / "python"), *cmd],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, port


def wait_answering(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 900  # start-up under valgrind takes a while
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/plain", timeout=60)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(1)


def callgrind_main(args: argparse.Namespace) -> None:
    """Per contender three runs, started together: warm-up only; warm-up and
    N reads; warm-up, N reads and N writes. The differences of their totals
    are what N reads and N writes cost."""
    for tool in ("valgrind", "callgrind_control", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    out = Path(tempfile.mkdtemp(prefix="session-peers-callgrind-"))
    redis_port = free_port()
    redis_proc = subprocess.Popen(
        ["taskset", "-c", LOAD_CORE, "valgrind", "--tool=callgrind", "--dump-instr=no",
         f"--callgrind-out-file={out}/redis.%p",
         "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        **os.environ,
        "SHARED_SESSION_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SHARED_SESSION_SECRET_KEYS": '["bench-secret"]',
        "PYTHONPATH": str(ROOT),
        "PYTHONHASHSEED": "0",
        # Everything runs 20-50x slower under valgrind: no 503 for a slow Redis call.
        "SHARED_SESSION_TIMEOUT": "60",
    }
    n, warmup, conns = args.callgrind, args.warmup, args.connections
    send = ["taskset", "-c", LOAD_CORE, sys.executable, __file__, "--client"]
    costs: dict[tuple[str, str, str], tuple[float, float]] = {}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        for side, name, kind, factory, cookie_name in CONTENDERS:
            if (args.only and name != args.only) or (args.side and side != args.side):
                continue
            runs = [
                (f"{side}-{name}-{phase}",
                 *start_under_callgrind(kind, factory, env, out, f"{side}-{name}-{phase}"))
                for phase in ("warmup", "reads", "writes")
            ]  # fmt: skip
            redis_used: dict[str, float] = {}
            try:
                for phase, (_tag, proc, port) in enumerate(runs):
                    wait_answering(proc, port)
                    cookie = session_cookie(f"http://127.0.0.1:{port}", cookie_name)
                    for _label, path in REQUESTS:
                        run_client(send, port, path, cookie, warmup, conns)
                    for label, path in REQUESTS[:phase]:
                        before = instructions(redis_proc.pid)
                        run_client(send, port, path, cookie, n, conns)
                        redis_used[label] = (instructions(redis_proc.pid) - before) / n
            finally:
                for _tag, proc, _port in runs:
                    proc.terminate()
                for _tag, proc, _port in runs:
                    proc.wait(300)
            totals = [callgrind_total(out, tag, proc.pid) for tag, proc, _port in runs]
            for (label, _path), (low, high) in zip(
                REQUESTS, itertools.pairwise(totals), strict=True
            ):
                used = (high - low) / n
                costs[side, name, label] = used, redis_used[label]
                print(
                    f"{side} {name} {label}: {used:,.0f} instructions/request "
                    f"(redis-server {redis_used[label]:,.0f})",
                    file=sys.stderr,
                )
    finally:
        redis_proc.terminate()
        redis_proc.wait(120)
    print(
        f"\ninstructions per request of the server process (callgrind, PYTHONHASHSEED=0): "
        f"{n} requests after {warmup} of each kind, {conns} connections; files in {out}\n"
    )
    print(
        "| side | request | shared_session | peer | peer | ratio (peer/ours) "
        "| redis-server, ours | redis-server, peer |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|")
    for side, peer in (("flask", "Flask-Session"), ("starlette", "starsessions")):
        for label, _ in REQUESTS:
            if (side, "shared_session", label) not in costs or (side, peer, label) not in costs:
                continue
            ours, ours_redis = costs[side, "shared_session", label]
            theirs, theirs_redis = costs[side, peer, label]
            print(
                f"| {side} | {label} | {ours:,.0f} | {peer} | {theirs:,.0f} | "
                f"{theirs / ours:.2f}x | {ours_redis:,.0f} | {theirs_redis:,.0f} |"
            )
    for key, (used, redis) in costs.items():
        if key[1] == "shared_session":
            print(f"{' '.join(key)}: {used:,.0f} (redis-server {redis:,.0f})")


def run_client(command: list[str], port: int, path: str, cookie: str, n: int, conns: int) -> None:
    got = subprocess.run(
        [*command, str(port), path, cookie, str(n), str(conns)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if got != str(n):
        raise RuntimeError(f"{path}: {got} of {n} requests answered 200")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--callgrind", type=int, metavar="N", help="instructions per request over N requests"
    )
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument(
        "--only", help="with --callgrind: one contender (shared_session, Flask-Session, ...)"
    )
    parser.add_argument("--side", choices=["flask", "starlette"], help="with --callgrind: one side")
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        port, path, cookie, n, conns = args.client
        print(client(int(port), path, cookie, int(n), int(conns)))
        return
    if args.callgrind:
        callgrind_main(args)
        return
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
