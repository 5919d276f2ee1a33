"""Real Redis Cluster and Sentinel sets on loopback, for the topology tests.

``ClusterSet`` starts 6 ``redis-server --cluster-enabled yes`` nodes and joins
them with ``redis-cli --cluster create --cluster-replicas 1`` (3 masters, each
with a replica). ``SentinelSet`` starts a master, a replica and 3
``redis-sentinel`` processes watching them. Every process listens on
127.0.0.1, keeps its files in a temporary directory and is stopped by
``close()``.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

SERVICE = "topo-master"
# The data nodes require a password, so the URLs' user:password part is tested.
PASSWORD = "topo-secret"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, *, bus: bool = False) -> list[int]:
    """``count`` free loopback ports (and, with ``bus``, each port + 10000 too,
    which a cluster node uses for its bus)."""
    ports: list[int] = []
    for _ in range(2000):
        port = random.randint(20000, 29999)
        if port in ports or (port + 10000) in ports:
            continue
        if _port_free(port) and (not bus or _port_free(port + 10000)):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError("no free ports")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


class _Processes:
    def __init__(self, prefix: str) -> None:
        for tool in ("redis-server", "redis-sentinel", "redis-cli"):
            if shutil.which(tool) is None:
                raise RuntimeError(
                    f"{tool} is not installed (apt-get install redis-server redis-sentinel)"
                )
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()
        self.procs.append(proc)
        return proc

    def logs(self, lines: int = 40) -> str:
        """The last lines of every process's log, for failure messages."""
        parts = []
        for log in sorted(self.dir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)


def _server_args(port: int, workdir: Path, *extra: str) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--dir", str(workdir),
        "--requirepass", PASSWORD, "--masterauth", PASSWORD, *extra,
    ]  # fmt: skip


def _node(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, password=PASSWORD, socket_timeout=1)


class ClusterSet(_Processes):
    """3 masters + 3 replicas of a real Redis Cluster on loopback."""

    def __init__(self) -> None:
        super().__init__("redis-cluster-")
        self.ports = free_ports(6, bus=True)
        self.url = f"redis+cluster://:{PASSWORD}@" + ",".join(
            f"127.0.0.1:{p}" for p in self.ports[:3]
        )

    def start(self) -> None:
        for port in self.ports:
            self.spawn(
                _server_args(
                    port, self.dir / str(port),
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", "2000",
                ),
                f"node-{port}",
            )  # fmt: skip
        for port in self.ports:
            wait_until(lambda p=port: self.node(p).ping(), 10, f"node {port}")
        subprocess.run(
            ["redis-cli", "-a", PASSWORD, "--no-auth-warning", "--cluster", "create",
             *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        wait_until(self._healthy, 30, "cluster_state:ok on every node")

    def node(self, port: int) -> redis.Redis:
        return _node(port)

    def _healthy(self) -> bool:
        for port in self.ports:
            info = self.node(port).cluster("info")
            if info.get("cluster_state") != "ok":
                return False
        return len(self.masters()) == 3 and len(self.replicas()) == 3

    def _roles(self) -> dict[int, str]:
        roles: dict[int, str] = {}
        for port in self.ports:
            role = self.node(port).execute_command("ROLE")[0]
            roles[port] = role.decode() if isinstance(role, bytes) else role
        return roles

    def masters(self) -> list[int]:
        return [p for p, r in self._roles().items() if r == "master"]

    def replicas(self) -> list[int]:
        return [p for p, r in self._roles().items() if r == "slave"]

    def master_of_slot(self, slot: int) -> int:
        for start, end, master, *_ in self.node(self.ports[0]).execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise RuntimeError(f"no master serves slot {slot}")

    def replica_of(self, master_port: int) -> int:
        for port in self.replicas():
            info = self.node(port).info("replication")
            if int(info["master_port"]) == master_port:
                return port
        raise RuntimeError(f"no replica of {master_port}")

    def failover(self, master_port: int, timeout: float = 15) -> int:
        """``CLUSTER FAILOVER`` on ``master_port``'s replica; returns the new master."""
        replica = self.replica_of(master_port)
        self.node(replica).execute_command("CLUSTER FAILOVER")
        wait_until(
            lambda: self.node(replica).execute_command("ROLE")[0] == b"master" and self._healthy(),
            timeout,
            f"replica {replica} to take over from {master_port}",
        )
        return replica


class SentinelSet(_Processes):
    """A master, 2 replicas and 3 sentinels watching them, on loopback.

    The data nodes run with ``min-replicas-to-write 1``, as docs/shared-session.md
    advises: a master that lost its replicas (the old one, during a failover)
    refuses writes instead of accepting some that the failover then discards.
    """

    def __init__(self) -> None:
        super().__init__("redis-sentinel-")
        ports = free_ports(6)
        self.data_ports = ports[:3]
        self.master_port = ports[0]
        self.sentinel_ports = ports[3:]
        self.url = (
            f"redis+sentinel://:{PASSWORD}@"
            + ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
            + f"/{SERVICE}/0"
        )

    def start(self) -> None:
        guard = ("--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
        self.spawn(_server_args(self.master_port, self.dir / "master", *guard), "master")
        for port in self.data_ports[1:]:
            self.spawn(
                _server_args(
                    port, self.dir / str(port), *guard,
                    "--replicaof", "127.0.0.1", str(self.master_port),
                ),
                f"replica-{port}",
            )  # fmt: skip
        wait_until(lambda: self._replicated(self.master_port, 2), 10, "the replicas to sync")
        for port in self.sentinel_ports:
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel auth-pass {SERVICE} {PASSWORD}\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self.spawn(["redis-sentinel", str(conf)], f"sentinel-{port}")
        wait_until(self._sentinels_agree, 20, "3 sentinels to see the master and replica")

    def node(self, port: int) -> redis.Redis:
        """A client of one data node (with the password) or of a sentinel."""
        if port in self.sentinel_ports:
            return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        return _node(port)

    def _replicated(self, master: int, count: int = 1) -> bool:
        info = self.node(master).info("replication")
        return info.get("connected_slaves", 0) >= count and all(
            info[k].get("state") == "online" for k in info if k.startswith("slave")
        )

    def master(self) -> int:
        """The master port as the sentinels report it (all must agree)."""
        seen = {
            int(self.node(p).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)[1])
            for p in self.sentinel_ports
        }
        if len(seen) != 1:
            raise RuntimeError(f"sentinels disagree: {seen}")
        return seen.pop()

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            state = self.node(port).sentinel_master(SERVICE)
            if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 2:
                return False
        return True

    def failover(self, timeout: float = 20) -> int:
        """A planned failover as docs/shared-session.md gives it; returns the new
        master's port once every sentinel names it.

        ``CLIENT PAUSE WRITE`` on the master, ``SENTINEL FAILOVER``, and
        ``CLIENT UNPAUSE`` once the old master has lost its last replica (from
        then on, ``min-replicas-to-write`` makes it refuse writes). Without
        the pause, the old master keeps acknowledging writes (to its other
        replica) until that replica is moved over, and the failover discards
        them.
        """
        old = self.master()
        old_node = self.node(old)
        old_node.execute_command("CLIENT", "PAUSE", int(timeout * 1000), "WRITE")
        try:
            self.node(self.sentinel_ports[0]).execute_command("SENTINEL", "FAILOVER", SERVICE)
            wait_until(
                lambda: old_node.info("replication")["connected_slaves"] == 0,
                timeout,
                "the old master to lose its replicas",
            )
        finally:
            old_node.execute_command("CLIENT", "UNPAUSE")

        def done() -> bool:
            try:
                new = self.master()
            except RuntimeError:
                return False
            return new != old and self._replicated(new, 1)

        wait_until(done, timeout, "the sentinel failover to finish")
        return self.master()
