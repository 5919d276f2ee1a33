"""How many processes serve this gateway: read from the server that loads it.

A flag table kept in memory lives in one process; under several workers each
keeps its own and a flip reaches one of them. The gateway asks the server
which loaded it (gunicorn's ``cfg.workers``, uvicorn's ``Config.workers``)
by looking at the frames that are calling it, since neither tells its app.
"""

from __future__ import annotations

import sys
from types import FrameType


def _workers_of(obj: object) -> int | None:
    cfg = getattr(obj, "cfg", None)  # a gunicorn Worker, Arbiter or Application
    module = type(cfg).__module__ if cfg is not None else ""
    if module.startswith("gunicorn"):
        workers = getattr(cfg, "workers", None)
        return workers if isinstance(workers, int) else None
    if type(obj).__module__.startswith("uvicorn") and type(obj).__name__ == "Config":
        workers = getattr(obj, "workers", None)
        return workers if isinstance(workers, int) else None
    return None


def server_worker_count(frame: FrameType | None = None) -> int | None:
    """The number of worker processes the calling server runs, if it can be told.

    None when the gateway is not being loaded by gunicorn or uvicorn (tests,
    an embedding program): the caller decides what that means.
    """
    frame = frame or sys._getframe(1)
    depth = 0
    while frame is not None and depth < 200:
        found = _workers_of(frame.f_locals.get("self"))
        if found is not None:
            return found
        frame = frame.f_back
        depth += 1
    return None


def under_uvicorn_supervisor(frame: FrameType | None = None) -> bool:
    """True when uvicorn's ``--workers`` supervisor runs the calling process.

    That supervisor starts a worker again whenever one dies, however often,
    unless it exits with uvicorn's start-up failure code (3, which gunicorn
    uses for a worker that cannot boot too): an app that cannot be built must
    exit with that code, or the server never stops.
    """
    frame = frame or sys._getframe(1)
    depth = 0
    while frame is not None and depth < 200:
        obj = frame.f_locals.get("self")
        if type(obj).__module__.startswith("uvicorn") and type(obj).__name__ == "Config":
            workers = getattr(obj, "workers", None)
            return isinstance(workers, int) and workers > 1
        frame = frame.f_back
        depth += 1
    return False
