"""Request ids the gateway makes when a request brings none (or an insane one).

32 hex digits: a random per-process prefix and a counter. Ids only need to be
unique, not unguessable, and this costs a tenth of ``uuid4()`` per request.
The prefix is drawn again in each worker's start-up, so workers forked from
one master (gunicorn ``--preload``) never share it.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable

SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class RequestIds:
    """A source of fresh request ids for one process: ``next()`` gives one (bytes)."""

    next: Callable[[], bytes]

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        """A new random prefix and a fresh counter (call after fork)."""
        template = os.urandom(8).hex().encode("ascii") + b"%016x"
        # An iterator built from C parts: next() runs no Python frame. The
        # counter would need 2**64 requests to outgrow its 16 digits.
        self.next = map(template.__mod__, itertools.count()).__next__


def is_sane(value: str) -> bool:
    """True for an id worth passing on: 1-128 characters of ``A-Za-z0-9._:@/+=-``."""
    return SANE_REQUEST_ID.fullmatch(value) is not None
