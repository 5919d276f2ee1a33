"""Throwaway redis-server processes for tests that stop, restart or pause Redis.

The shared server on 127.0.0.1:6379 is never stopped by a test; these run on
free loopback ports and die with the test.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server child process on a fixed port, restartable on it."""

    def __init__(self, port: int | None = None) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="redis-test-")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.2)
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections hang instead of failing."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __repr__(self) -> str:
        return f"RedisServer({self.url}, running={self.running})"


__all__ = ["Path", "RedisServer", "free_port"]


class CommandLog:
    """Every command a Redis server receives, read through MONITOR.

    Commands run by Lua scripts are shown by MONITOR as coming from "lua";
    ``round_trips()`` counts only what clients sent, one per network call.
    """

    def __init__(self, url: str) -> None:
        import threading

        self._client = redis.Redis.from_url(url)
        self._echo = redis.Redis.from_url(url)
        self._monitor = self._client.monitor()
        self._monitor.__enter__()
        self.commands: list[dict[str, object]] = []
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self._marker(b"start")

    def _read(self) -> None:
        try:
            while True:
                entry = self._monitor.next_command()
                with self._lock:
                    self.commands.append(entry)
        except Exception as exc:  # the connection is closed when the log stops
            self.error = exc
            return

    def _marker(self, name: bytes) -> None:
        # MONITOR output is asynchronous: ECHO a marker and wait for it, so
        # everything sent before it has been read.
        token = f"marker-{name.decode()}-{time.monotonic_ns()}"
        self._echo.echo(token)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._lock:
                if any(token in str(c.get("command")) for c in self.commands):
                    return
            time.sleep(0.005)
        raise RuntimeError(f"MONITOR did not show the marker ({self.error!r})")

    def take(self) -> list[dict[str, object]]:
        """Client commands since the last call (markers excluded)."""
        self._marker(b"take")
        with self._lock:
            taken, self.commands = self.commands, []
        return [
            c
            for c in taken
            if c.get("client_type") != "lua" and "marker-" not in str(c.get("command"))
        ]

    def close(self) -> None:
        self._monitor.__exit__(None, None, None)
        self._client.close()
        self._echo.close()
