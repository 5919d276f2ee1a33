"""What can go wrong talking to the upstream, as a small hierarchy.

Callers map ``UpstreamTimeout`` to 504 and every other ``UpstreamError`` to
502; ``StaleConnection`` is the one failure that is safe to retry (for a
request that cannot repeat a side effect).
"""

from __future__ import annotations


class UpstreamError(Exception):
    """The upstream could not be reached or did not answer properly."""


class UpstreamConnectError(UpstreamError):
    """No connection could be opened (refused, unknown host, TLS handshake failed)."""


class UpstreamTimeout(UpstreamError):
    """The upstream, or a free pooled connection to it, took too long."""


class ConnectTimeout(UpstreamTimeout):
    """Opening a connection (TCP and TLS) took longer than the connect timeout."""


class PoolTimeout(UpstreamTimeout):
    """Every connection stayed busy for longer than the connect timeout."""


class ReadTimeout(UpstreamTimeout):
    """One wait for data from (or room to write to) the upstream took too long."""


class UpstreamProtocolError(UpstreamError):
    """The answer was not valid HTTP/1.x, was too large, or was cut short."""


class StaleConnection(UpstreamProtocolError):
    """A reused keep-alive connection closed before a single response byte.

    The upstream had closed it while it sat idle (its keep-alive timeout), so
    the request most likely never reached the application.
    """
