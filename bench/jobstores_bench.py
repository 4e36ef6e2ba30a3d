"""Benchmark: the stale-job scan over 1,000,000 jobs. Prints its figures.

    .venv/bin/python bench/jobstores_bench.py [--jobs 1000000] [--counts 250,500,1000,2000]
                                              [--skip-seed] [--skip-cli]

Starts its own redis-server on a free port (the shared one is never touched), writes the
jobs (1% processing and stale, the rest completed or young), then measures in the same run:
(a) the whole CLI process `manage.py debug_tools stale-jobs --json --redis-url ...`, wall
time; (b) find_stale_jobs in-process, keys/s, for each SCAN COUNT; (c) Redis PING latency
from a second client during each scan (p50/p99/max); (d) the source document's
DebugTools.find_stale_jobs, verbatim, on the same data, and the speed-up.
Targets: CLI under 5 s, at least 20x the seed, PING p99 under 5 ms.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vigil_scan")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vigil.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["OUTBOUND_ALLOWED_HOSTS"] = "127.0.0.1"

import redis  # noqa: E402
import structlog  # noqa: E402

logger = structlog.get_logger()


# --- the source document's DebugTools.find_stale_jobs, verbatim (lines ~500-540) ---------
class DebugTools:
    """Tools for debugging production incidents."""

    def __init__(self, redis_client: redis.Redis):
        self.redis = redis_client

    def find_stale_jobs(self, max_age_seconds: int = 300):
        """
        Find jobs that have been processing for too long.

        Args:
            max_age_seconds: Max allowed processing time

        Returns:
            List of stale job IDs
        """
        stale_jobs = []
        cutoff_time = datetime.utcnow() - timedelta(seconds=max_age_seconds)  # noqa: DTZ003

        # Get all job keys
        for key in self.redis.scan_iter("job:*"):
            job_data = self.redis.get(key)
            if not job_data:
                continue

            job = json.loads(job_data)

            # Check if stuck in processing
            if job.get("status") == "processing":
                started_at = datetime.fromisoformat(job["started_at"])

                if started_at < cutoff_time:
                    stale_jobs.append(
                        {
                            "job_id": job["job_id"],
                            "user_id": job["user_id"],
                            "message": job["message"][:100],
                            "started_at": job["started_at"],
                            "age_seconds": (datetime.utcnow() - started_at).total_seconds(),  # noqa: DTZ003
                        }
                    )

        logger.info("stale_jobs_found", count=len(stale_jobs))
        return stale_jobs


# ------------------------------------------------------------------------------------------


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def write_jobs(client, jobs: int) -> int:
    """1% processing and stale (an hour old), the rest completed or young; pipelined MSETs."""
    now = datetime.now(UTC).replace(tzinfo=None)
    old = (now - timedelta(hours=1)).isoformat()
    young = (now - timedelta(seconds=30)).isoformat()
    message = "Summarise the last three incidents of the checkout service for the weekly review"
    stale = 0
    pipe = client.pipeline(transaction=False)
    chunk = {}
    for i in range(jobs):
        if i % 100 == 0:
            status, started = "processing", old
            stale += 1
        elif i % 10 == 1:
            status, started = "processing", young
        else:
            status, started = "completed", old
        chunk[f"job:{i:08d}"] = (
            f'{{"job_id": "{i:08d}", "user_id": "user-{i % 5000}", "message": "{message}", '
            f'"status": "{status}", "started_at": "{started}", "turns": {i % 12}}}'
        )
        if len(chunk) == 1000:
            pipe.mset(chunk)
            chunk = {}
            if len(pipe) == 50:
                pipe.execute()
    if chunk:
        pipe.mset(chunk)
    pipe.execute()
    return stale


_PROBE = """
import sys, threading, time, json, redis
client = redis.Redis(port=int(sys.argv[1]))
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
samples = []
print("ready", flush=True)
while not stop.is_set():
    started = time.perf_counter()
    client.ping()
    samples.append((time.perf_counter() - started) * 1000)
    time.sleep(0.001)
print(json.dumps(samples), flush=True)
"""


class PingProbe:
    """A second client, in a process of its own (not behind this one's GIL), PINGing the
    server every millisecond while a scan runs."""

    def __init__(self, port):
        self.port = port
        self.samples: list[float] = []

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-c", _PROBE, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.process.stdout.readline()  # "ready"
        return self

    def __exit__(self, *exc):
        out, _ = self.process.communicate("stop\n", timeout=30)
        self.samples = json.loads(out.strip().splitlines()[-1])

    def summary(self) -> str:
        s = self.samples
        return (
            f"PING p50 {percentile(s, 50):.2f} ms, p99 {percentile(s, 99):.2f} ms, "
            f"max {max(s):.2f} ms ({len(s)} pings)"
        )


def run_cli(port) -> float | None:
    command_file = ROOT / "jobstores/management/commands/debug_tools.py"
    if not command_file.exists():
        print("(a) CLI: jobstores/management/commands/debug_tools.py is missing; not measured")
        return None
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "debug_tools",
            "stale-jobs",
            "--json",
            "--redis-url",
            f"redis://127.0.0.1:{port}/0",
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(f"(a) CLI failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return None
    found = json.loads(done.stdout)
    print(
        f"(a) CLI process wall time: {wall:.2f} s "
        f"({len(found['stale_jobs'])} stale jobs, {found['keys_scanned']} keys) — target < 5 s"
    )
    return wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--counts", default="250,500,1000,2000", help="SCAN COUNTs to try")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from jobstores.redisconn import connect
    from jobstores.scanning import find_stale_jobs
    from tests.jobstores_redis import RedisServer

    print(f"CPUs: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    server = RedisServer()
    try:
        client = server.client()
        started = time.perf_counter()
        stale = write_jobs(client, args.jobs)
        print(
            f"wrote {args.jobs:,} jobs ({stale:,} stale) in {time.perf_counter() - started:.1f} s, "
            f"used_memory {client.info('memory')['used_memory_human']}"
        )

        cli = None if args.skip_cli else run_cli(server.port)

        best = None
        for count in [int(c) for c in args.counts.split(",")]:
            with connect(server.url) as conn, PingProbe(server.port) as probe:
                result = find_stale_jobs(conn, count=count)
            assert len(result.stale_jobs) == stale, (len(result.stale_jobs), stale)
            print(
                f"(b) find_stale_jobs COUNT {count}: {result.duration_seconds:.2f} s, "
                f"{result.keys_per_second:,.0f} keys/s; (c) {probe.summary()}"
            )
            if best is None or result.keys_per_second > best[1]:
                best = (count, result.keys_per_second, percentile(probe.samples, 99))

        if not args.skip_seed:
            seed_client = redis.Redis(port=server.port, decode_responses=True)
            started = time.perf_counter()
            found = DebugTools(seed_client).find_stale_jobs(300)
            seed_seconds = time.perf_counter() - started
            seed_rate = args.jobs / seed_seconds
            assert len(found) == stale
            print(f"(d) the seed's find_stale_jobs: {seed_seconds:.1f} s, {seed_rate:,.0f} keys/s")
            print(f"speed-up at COUNT {best[0]}: {best[1] / seed_rate:.1f}x (target >= 20x)")
        if cli is not None:
            print(f"summary: CLI {cli:.2f} s; best COUNT {best[0]}: PING p99 {best[2]:.2f} ms")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
