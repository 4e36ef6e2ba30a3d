"""Debian's real Prometheus for the tests about queries: started on a free port with a
temporary config that scrapes a local exporter every second, stopped afterwards."""

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.paging_fakes import wait_port

PROMETHEUS = "/usr/bin/prometheus"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_prometheus(exporter_port: int, *, ready, timeout: float = 30.0):
    """Yields Prometheus's base URL once `ready(base)` is true (polled; exceptions from a
    Prometheus still starting count as not ready)."""
    if not Path(PROMETHEUS).exists():
        pytest.fail(f"{PROMETHEUS} is missing: `make system-packages` installs Debian's prometheus")
    folder = tempfile.mkdtemp(prefix="vigil-prometheus-")
    port = free_port()
    config = Path(folder, "prometheus.yml")
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: agents\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n"
    )
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder}/data",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_port(port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if ready(base):
                    break
            time.sleep(0.1)
        else:
            pytest.fail("Prometheus never had the data the tests need")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
