"""A small HTTP/1.1 client for one upstream: keep-alive pool, httptools parser.

Built for a reverse proxy, where the client's CPU cost is paid on every
request (httpx cost ~0.9 ms per request; see docs/benchmarks-gateway.md,
"Upstream client"). It keeps no state between requests besides open
connections: no cookies, no default headers, no redirects.

- ``ConnectionPool``: at most ``max_connections`` connections to one origin,
  reused while the upstream allows; waits for a free one up to the connect
  timeout; looks a host name up once per 10 s, not per connection.
- ``UpstreamConnection``: one connection; write a request head and body,
  read the response head, take the body as it arrives.
- ``errors``: what callers catch (``UpstreamTimeout`` -> 504, other
  ``UpstreamError`` -> 502).
"""

from __future__ import annotations

from gateway.backends.upstream.connection import MAX_HEAD_BYTES, UpstreamConnection
from gateway.backends.upstream.errors import (
    ConnectTimeout,
    PoolTimeout,
    ReadTimeout,
    StaleConnection,
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from gateway.backends.upstream.pool import ConnectionPool

__all__ = [
    "MAX_HEAD_BYTES",
    "ConnectTimeout",
    "ConnectionPool",
    "PoolTimeout",
    "ReadTimeout",
    "StaleConnection",
    "UpstreamConnectError",
    "UpstreamConnection",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTimeout",
]
