"""Redis clients from one URL: a single server, a Sentinel set or a Cluster.

The session store (both sides), the gateway's flag store and its CLI build
their clients here, so one setting (``REDIS_URL``) chooses the topology:

- ``redis://[[user]:password@]host:port/db``, ``rediss://...``, ``unix:///path?db=0``:
  one server (redis-py's own ``from_url``, every option it knows).
- ``redis+sentinel://[[user]:password@]host:port,host:port,.../service/db``:
  the master of ``service`` as the listed sentinels report it; ``db`` is
  optional (0). The user and password are the data nodes' (the sentinels
  are asked without one). After a failover, connections find the new
  master by themselves.
- ``redis+cluster://[[user]:password@]host:port,host:port,...``: a Redis
  Cluster reached through any of the listed nodes (no ``db``). Keys used
  together in one script must share a hash slot (``{...}`` hash tags).

Errors during a failover (a master that is gone, a demoted master, a moved
slot) are retried a few times with a short backoff; what is still failing
after that reaches the caller as a ``redis.RedisError`` (callers turn it
into a 503 or keep serving what they know).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.commands.core import Script
from redis.connection import Encoder
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, ResponseError
from redis.retry import Retry

Topology = Literal["server", "sentinel", "cluster"]
SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster

# What a Redis call can raise when Redis is unreachable or mid-failover:
# redis-py's cluster client raises RedisClusterException (not a RedisError)
# when no node answers.
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, RedisClusterException)

_SCHEMES: dict[str, Topology] = {
    "redis": "server",
    "rediss": "server",
    "unix": "server",
    "redis+sentinel": "sentinel",
    "redis+cluster": "cluster",
}


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """Where a Redis URL points; ``parse_redis_url`` makes one."""

    topology: Topology
    url: str
    nodes: tuple[tuple[str, int], ...] = ()  # sentinels or cluster seed nodes
    service: str | None = None  # the sentinel service (master group) name
    db: int = 0
    username: str | None = None
    password: str | None = None

    def describe(self) -> str:
        """The URL without its password, for messages and logs."""
        parts = urllib.parse.urlsplit(self.url)
        if parts.password is None:
            return self.url
        user = urllib.parse.quote(parts.username or "")
        netloc = f"{user}:***@{parts.netloc.rpartition('@')[2]}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _redacted(url: str) -> str:
    # For error messages about a URL that may not parse: hide any password.
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def parse_redis_url(url: str) -> RedisTarget:
    """The target of ``url``; raises ValueError naming what is wrong (the
    message never shows the password)."""
    shown = _redacted(url)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    topology = _SCHEMES.get(scheme)
    if topology is None:
        raise ValueError(
            f"unsupported Redis URL {shown!r}: expected redis://, rediss://, unix://, "
            "redis+sentinel://host:port,host:port/service/db or redis+cluster://host:port,host:port"
        )
    if topology == "server":
        return RedisTarget("server", url)
    parts = urllib.parse.urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username = urllib.parse.unquote(user) or None
        password = urllib.parse.unquote(secret) if has_password else None
    nodes = tuple(_host_port(item, shown) for item in hosts.split(","))
    if parts.query or parts.fragment:
        raise ValueError(f"{scheme}:// URLs take no query string or fragment: {shown!r}")
    path = [p for p in parts.path.split("/") if p]
    if topology == "cluster":
        if path not in ([], ["0"]):
            raise ValueError(f"a Redis Cluster has only database 0; drop the path of {shown!r}")
        return RedisTarget("cluster", url, nodes, None, 0, username, password)
    if not path or len(path) > 2:
        raise ValueError(
            f"a redis+sentinel:// URL names the service after the hosts, then an optional "
            f"database: redis+sentinel://host:26379,host:26380/mymaster/0, got {shown!r}"
        )
    service = urllib.parse.unquote(path[0])
    db = path[1] if len(path) == 2 else "0"
    if not db.isdigit():
        raise ValueError(f"the database in {shown!r} must be a number, got {db!r}")
    return RedisTarget("sentinel", url, nodes, service, int(db), username, password)


_OBJECT_REPR = re.compile(r"<[\w.]+\((?:[^<>]|<[^<>]*>)*\)>|<[\w.]+ object at 0x[0-9a-f]+>")
ERROR_TEXT_LIMIT = 300


def describe_redis_error(exc: BaseException) -> str:
    """A Redis error for a log line or a report: the object reprs redis-py puts in
    some messages (a whole client with its pool, ~2 KB for a Sentinel's "No master
    found") left out, and at most ERROR_TEXT_LIMIT characters."""
    text = str(exc) or type(exc).__name__
    previous = None
    while previous != text:  # innermost reprs first, then what held them
        previous, text = text, _OBJECT_REPR.sub("...", text)
    text = re.sub(r"\s*:\s*\.\.\.$", "", text).strip()
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 3] + "..."


def _host_port(item: str, url: str) -> tuple[str, int]:
    host, sep, port = item.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port in {url!r}, got {item!r}")
    return host, int(port)


def describe_redis_url(url: str) -> str:
    """``url`` without its password (any topology), for messages."""
    try:
        return parse_redis_url(url).describe()
    except ValueError:
        return "<invalid Redis URL>"


def _retry(
    topology: Topology, retries: int, kind: type[Retry] | type[redis.asyncio.retry.Retry] = Retry
) -> Any:
    # One server: one immediate retry on a fresh connection (pooled
    # connections are dead after a restart). Sentinel and Cluster: a few
    # retries with a short backoff, enough to ride out a failover's
    # reconfiguration without holding a request for long. The asyncio
    # clients need redis.asyncio.retry.Retry: given the sync class they
    # never retry.
    if topology == "server":
        return kind(NoBackoff(), retries, supported_errors=(RedisConnectionError,))
    return kind(
        ExponentialBackoff(cap=0.2, base=0.02),
        max(retries, 3),
        supported_errors=(RedisConnectionError,),
    )


def _refused_by_old_master(exc: ResponseError) -> bool:
    # A master that lost its replicas refuses writes with NOREPLICAS when it
    # runs with min-replicas-to-write (Sentinel's guard against writes to a
    # master that is being replaced); READONLY once it has been demoted.
    text = str(exc)
    return text.startswith(("NOREPLICAS", "READONLY")) or " NOREPLICAS " in text


class _MasterConnection(redis.sentinel.SentinelManagedConnection):
    """A connection to the Sentinel master that follows a failover.

    - A write refused because the master is being replaced (NOREPLICAS,
      READONLY) counts as a lost connection, so the command is retried.
    - Reconnecting asks the sentinels for the master again: redis-py's own
      connection reconnects to the address it had (the old master), so
      its retries never reach the new one.
    - A failed read (a timeout) drops the connection: redis-py's sync
      Sentinel connection keeps it by default, and the late reply then
      answers the next command sent on it (another request's data).
    """

    def connect(self) -> None:
        # Once: the command's own retry reconnects (and asks again), so an
        # inner retry would only multiply the sentinel round trips.
        self._connect_retry()

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._sock:
            self.connect()
        super().send_packed_command(command, check_health)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("disconnect_on_error", True)
        try:
            return super().read_response(*args, **kwargs)
        except ResponseError as exc:
            if _refused_by_old_master(exc):
                self.disconnect()
                raise RedisConnectionError(
                    f"master {self.host}:{self.port} is being replaced: {exc}"
                ) from exc
            raise


class _AsyncMasterConnection(redis.asyncio.sentinel.SentinelManagedConnection):
    """The asyncio twin of ``_MasterConnection``."""

    async def connect(self) -> None:
        await self._connect_retry()

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.is_connected:
            await self.connect()
        await super().send_packed_command(command, check_health)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except ResponseError as exc:
            if _refused_by_old_master(exc):
                await self.disconnect()
                raise RedisConnectionError(
                    f"master {self.host}:{self.port} is being replaced: {exc}"
                ) from exc
            raise


def _usable_master(state: dict[str, Any]) -> bool:
    # The sentinel leading a failover keeps reporting the old master in
    # SENTINEL MASTERS (which redis-py reads) until the failover ends, after
    # every replica has been reconfigured; the others already name the new one.
    return "failover_in_progress" not in str(state.get("flags", ""))


class _Sentinel(redis.sentinel.Sentinel):
    """Finds the master through a sentinel that is not mid-failover."""

    def check_master_state(self, state: dict[str, Any], service_name: str) -> bool:
        return _usable_master(state) and super().check_master_state(state, service_name)


class _AsyncSentinel(redis.asyncio.sentinel.Sentinel):
    """The asyncio twin of ``_Sentinel``."""

    def check_master_state(self, state: dict[str, Any], service_name: str) -> bool:
        return _usable_master(state) and super().check_master_state(state, service_name)


# How often a Sentinel client asks whether the master moved, besides after a
# refused write: connections that only read would otherwise keep reading
# from the old master (stale data) until it is demoted, seconds later.
MASTER_CHECK_INTERVAL = 0.5


class _MasterPool(redis.sentinel.SentinelConnectionPool):
    """Re-asks the sentinels for the master at most every MASTER_CHECK_INTERVAL;
    when it moved, idle connections to the old one are closed (redis-py) and
    busy ones are dropped when released (they no longer belong to the pool)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checked = 0.0

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now - self._checked >= MASTER_CHECK_INTERVAL:
            self._checked = now
            # No sentinel answering now is for the command itself to find out.
            with contextlib.suppress(RedisConnectionError):
                self.get_master_address()
        return super().get_connection(*args, **kwargs)


class _AsyncMasterPool(redis.asyncio.sentinel.SentinelConnectionPool):
    """The asyncio twin of ``_MasterPool``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checked = 0.0

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now - self._checked >= MASTER_CHECK_INTERVAL:
            self._checked = now
            # No sentinel answering now is for the command itself to find out.
            with contextlib.suppress(RedisConnectionError):
                await self.get_master_address()
        return await super().get_connection(*args, **kwargs)


class _BlockingMasterPool(_MasterPool, redis.BlockingConnectionPool):
    """``_MasterPool`` that waits for a free connection (redis-py's
    BlockingConnectionPool) instead of failing past ``max_connections``."""


class _AsyncBlockingMasterPool(_AsyncMasterPool, redis.asyncio.BlockingConnectionPool):
    """The asyncio twin of ``_BlockingMasterPool``."""


def _socket_options(timeout: float) -> dict[str, Any]:
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


def _pool_options(max_connections: int | None, pool_timeout: float | None) -> dict[str, Any]:
    if max_connections is None:
        return {}
    return {"max_connections": max_connections, "timeout": pool_timeout}


def sync_client(
    url: str,
    *,
    timeout: float,
    retries: int = 1,
    max_connections: int | None = None,
    pool_timeout: float | None = None,
) -> SyncClient:
    """A redis-py client for ``url`` (see the module docstring for the forms).

    ``timeout`` bounds each connect and each reply; ``retries`` is how often
    a command is retried after a connection error (at least 3 on Sentinel and
    Cluster). With ``max_connections``, the pool holds at most that many
    connections (per node on a Cluster) and a command that finds them all
    busy waits up to ``pool_timeout`` seconds for one. Raises ValueError for
    a URL it does not understand.
    """
    target = parse_redis_url(url)
    options = _socket_options(timeout)
    pool = _pool_options(max_connections, pool_timeout)
    retry = _retry(target.topology, retries)
    if target.topology == "server":
        if not pool:
            return redis.Redis.from_url(url, retry=retry, health_check_interval=0, **options)
        blocking = redis.BlockingConnectionPool.from_url(
            url, retry=retry, health_check_interval=0, **options, **pool
        )
        return redis.Redis.from_pool(blocking)
    auth = {"username": target.username, "password": target.password}
    if target.topology == "sentinel":
        # Each sentinel is asked once per discovery (redis-py's default would
        # retry an unreachable one with backoff for seconds).
        sentinel_options = {**options, "retry": Retry(NoBackoff(), 0)}
        sentinel = _Sentinel(list(target.nodes), sentinel_kwargs=sentinel_options, **options)
        return sentinel.master_for(
            target.service,
            connection_pool_class=_BlockingMasterPool if pool else _MasterPool,
            db=target.db,
            connection_class=_MasterConnection,
            retry=retry,
            **auth,
            **options,
            **pool,
        )
    cluster_pool: dict[str, Any] = {}
    if pool:
        # RedisCluster hands its keyword arguments to plain clients too, which
        # know no pool timeout: the pool class carries it.
        wait = pool_timeout

        class _NodePool(redis.BlockingConnectionPool):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(**{**kwargs, "timeout": wait})

        # RedisCluster uses connection_pool_class only when given a URL.
        host, port = target.nodes[0]
        cluster_pool = {
            "url": f"redis://{'[' + host + ']' if ':' in host else host}:{port}",
            "connection_pool_class": _NodePool,
            "max_connections": max_connections,
        }
    return _LazyCluster(  # type: ignore[return-value]
        lambda: redis.cluster.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in target.nodes],
            retry=retry,
            **auth,
            **options,
            **cluster_pool,
        )
    )


class _LazyCluster:
    """A sync RedisCluster made on first use.

    redis-py's sync cluster client asks the nodes for the slot map in its
    constructor, so building it while the cluster is unreachable would fail
    at start-up; this proxy builds it on the first command instead (and again
    on the next command if that failed), as the other clients connect lazily.
    """

    def __init__(self, make: Any) -> None:
        self._make = make
        self._client: redis.cluster.RedisCluster | None = None
        self._lock = threading.Lock()

    def _get(self) -> redis.cluster.RedisCluster:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make()
                client = self._client
        return client

    def get_encoder(self) -> Encoder:
        return Encoder("utf-8", "strict", False)

    def register_script(self, script: str) -> Script:
        return Script(self, script)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def async_client(
    url: str,
    *,
    timeout: float,
    retries: int = 1,
    max_connections: int | None = None,
    pool_timeout: float | None = None,
) -> AsyncClient:
    """The asyncio twin of ``sync_client``; belongs to the running event loop.

    On a Cluster the pool of each node holds ``max_connections`` but does not
    wait (redis-py's asyncio cluster client has no blocking pool): past it, a
    command fails.
    """
    target = parse_redis_url(url)
    options = _socket_options(timeout)
    pool = _pool_options(max_connections, pool_timeout)
    retry = _retry(target.topology, retries, redis.asyncio.retry.Retry)
    if target.topology == "server":
        if not pool:
            return redis.asyncio.Redis.from_url(
                url, retry=retry, health_check_interval=0, **options
            )
        blocking = redis.asyncio.BlockingConnectionPool.from_url(
            url, retry=retry, health_check_interval=0, **options, **pool
        )
        return redis.asyncio.Redis.from_pool(blocking)
    auth = {"username": target.username, "password": target.password}
    if target.topology == "sentinel":
        sentinel_options = {**options, "retry": redis.asyncio.retry.Retry(NoBackoff(), 0)}
        sentinel = _AsyncSentinel(list(target.nodes), sentinel_kwargs=sentinel_options, **options)
        return sentinel.master_for(
            target.service,
            connection_pool_class=_AsyncBlockingMasterPool if pool else _AsyncMasterPool,
            db=target.db,
            connection_class=_AsyncMasterConnection,
            retry=retry,
            **auth,
            **options,
            **pool,
        )
    per_node = {"max_connections": max_connections} if max_connections else {}
    return redis.asyncio.cluster.RedisCluster(
        startup_nodes=[redis.asyncio.cluster.ClusterNode(h, p) for h, p in target.nodes],
        retry=retry,
        **auth,
        **options,
        **per_node,
    )


__all__ = [
    "REDIS_ERRORS",
    "AsyncClient",
    "RedisTarget",
    "SyncClient",
    "async_client",
    "describe_redis_error",
    "describe_redis_url",
    "parse_redis_url",
    "sync_client",
]
