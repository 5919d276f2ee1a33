"""How an answer given because the session store is down says so.

Both sides' 503 page carries ``X-Shared-Session: unavailable``. A session
outage is shared by every backend that keeps sessions: whoever watches
answers (the gateway's rollback guard) can tell it from an app failing.
"""

from __future__ import annotations

HEADER = "X-Shared-Session"
VALUE = "unavailable"
# The same as an ASGI header pair (lowercase name).
ASGI_HEADER = (HEADER.lower().encode("latin-1"), VALUE.encode("latin-1"))
