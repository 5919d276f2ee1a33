"""Servers as users run them: gunicorn and uvicorn processes on loopback.

``ServerProcess`` starts a command with its output in a log file, waits for
a URL to answer, and stops it (SIGTERM, then SIGKILL) on exit. Tests read
``log()`` for tracebacks and the process's exit code for start-up failures.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.redis_server import free_port

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def gunicorn_gateway(port: int, workers: int = 1, *extra: str) -> list[str]:
    """The production command of the gateway, as README and compose give it."""
    return [
        str(BIN / "gunicorn"), "-k", "uvicorn_worker.UvicornWorker", "--no-control-socket",
        "-w", str(workers), "-b", f"127.0.0.1:{port}", *extra, "gateway.app:create_gateway()",
    ]  # fmt: skip


class ServerProcess:
    """One server process; use as a context manager."""

    def __init__(
        self, command: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.command = command
        self.log_path = log_path
        # No drain on SIGTERM unless a test asks for one (tests/gateway/test_drain.py
        # does): the default 5 s would only slow every teardown.
        self.env = {"GATEWAY_DRAIN_SECONDS": "0", **os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, url: str, timeout: float = 30) -> None:
        """Until ``url`` answers (any status); raises RuntimeError with the log if the
        process exits or the time runs out."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                httpx.get(url, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"{url} did not answer within {timeout} s:\n{self.log()}")

    def wait_exit(self, timeout: float = 30) -> int:
        """The exit code, waiting at most ``timeout`` seconds (then kills it)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


__all__ = ["BIN", "ROOT", "ServerProcess", "free_port", "gunicorn_gateway"]
