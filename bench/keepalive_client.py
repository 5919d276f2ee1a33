"""A client that sends exactly ``n`` keep-alive GETs, for the callgrind benchmarks.

``bench/worker_callgrind.py`` and ``bench/upstream_callgrind.py`` count a
server's instructions between two runs that differ only in how many requests
it served, so the client must send an exact number, over a fixed number of
connections, and wait however long a server under valgrind takes.
"""

from __future__ import annotations

import re
import selectors
import socket
import subprocess
import sys
import time


def send_gets(
    port: int, path: str, n: int, connections: int, *, seconds: float, expect_200: bool = False
) -> int:
    """Send exactly ``n`` keep-alive ``GET path`` over ``connections`` sockets
    (waiting at most ``seconds``); return the answers read. With ``expect_200``
    an answer of any other status fails an assertion."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    sockets = []
    sent = done = 0
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        sockets.append(sock)
        selector.register(sock, selectors.EVENT_READ, bytearray())
        if sent < n:
            sock.sendall(request)
            sent += 1
    deadline = time.monotonic() + seconds
    while done < n and time.monotonic() < deadline:
        for key, _ in selector.select(10):
            sock, buffer = key.fileobj, key.data
            assert isinstance(sock, socket.socket)
            buffer += sock.recv(65536)
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                head = bytes(buffer[:end]).lower()
                if expect_200:
                    assert head.startswith(b"http/1.1 200"), head[:200]
                length = int(re.search(rb"content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                if len(buffer) < end + 4 + length:
                    break
                del buffer[: end + 4 + length]
                done += 1
                if sent < n:
                    sock.sendall(request)
                    sent += 1
    for sock in sockets:
        sock.close()
    return done


def run_pinned_client(script: str, port: int, n: int, connections: int) -> None:
    """Run ``script --client port n connections`` on CPU 1 (the server side is on
    CPU 0) and check that it read ``n`` answers."""
    command = ["taskset", "-c", "1", sys.executable, script, "--client"]
    answered = subprocess.run(
        [*command, str(port), str(n), str(connections)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert answered == str(n), (port, n, answered)
