"""Private redis-server processes for the job-store tests and the bench: tests that fill,
break, password-protect or cluster a Redis start their own on a free port, never touching
the shared one."""

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server on 127.0.0.1:<free port> in a temporary directory; stop() ends it."""

    def __init__(self, *args: str, port: int | None = None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix=f"vigil-redis-{self.port}-")
        self.password = None
        if "--requirepass" in args:
            self.password = args[list(args).index("--requirepass") + 1]
        command = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
            "--logfile",
            str(Path(self.dir) / "redis.log"),
            *args,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait()

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, **kwargs)

    def _wait(self, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.process.stderr.read().decode()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on {self.port} did not start")

    def kill(self):
        """Ends the server at once, as a crashed node."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """Three primaries (no replicas) with the 16,384 slots split between them."""

    def __init__(self, size: int = 3):
        # Each node's bus gets a free port of its own (port + 10000 may be taken or too big).
        self.nodes = [
            RedisServer(
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "2000",
                "--cluster-port",
                str(free_port()),
            )
            for _ in range(size)
        ]
        try:
            subprocess.run(
                [
                    REDIS_CLI,
                    "--cluster",
                    "create",
                    *[f"127.0.0.1:{n.port}" for n in self.nodes],
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            self._wait_ok()
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def _wait_ok(self, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [n.client().cluster("info") for n in self.nodes]
            if all(s.get("cluster_state") == "ok" for s in states):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach state ok")

    def client(self) -> redis.cluster.RedisCluster:
        return redis.cluster.RedisCluster(host="127.0.0.1", port=self.nodes[0].port)

    def stop(self):
        for node in self.nodes:
            node.stop()
