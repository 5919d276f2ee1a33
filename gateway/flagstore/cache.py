"""The on-disk copy of the last flag table, so a restart without Redis still knows it."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

from gateway.flags import Flag, FlagTable

log = logging.getLogger("gateway.flagstore")


def write_cache(path: Path, table: FlagTable) -> None:
    """Write ``table`` to ``path`` atomically (temp file + rename); logs, never raises."""
    data = {"version": table.version, "flags": table.as_texts(), "saved_at": time.time()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("could not write flag cache %s: %s", path, exc)


def read_cache(path: Path, default: Flag) -> FlagTable | None:
    """The table saved at ``path``, or None if missing or unreadable (logged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = int(data["version"])
        texts = {str(k): str(v) for k, v in dict(data["flags"]).items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable flag cache %s: %s", path, exc)
        return None
    table, broken = FlagTable.from_texts(version, texts, default, "cache")
    for key, error in broken.items():
        log.warning("flag cache %s: entry %r ignored: %s", path, key, error)
    return table
