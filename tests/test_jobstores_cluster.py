"""A three-primary Redis Cluster on local ports: every primary is scanned, kills reach the
node that holds the job, and a primary that dies mid-scan is an error beside the others'
results."""

import datetime as dt
import json

import pytest

from jobstores.redisconn import connect
from jobstores.scanning import find_stale_jobs, kill_stale_jobs
from tests.jobstores_redis import RedisCluster

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
JOBS = 3000


@pytest.fixture(scope="module")
def cluster():
    cluster = RedisCluster()
    client = cluster.client()
    pipe = client.pipeline()
    for i in range(JOBS):
        status = "processing" if i % 100 == 0 else "completed"
        started = (NOW - dt.timedelta(seconds=600)).replace(tzinfo=None).isoformat()
        pipe.set(f"job:{i}", json.dumps({"job_id": str(i), "user_id": "u", "message": "m",
                                         "status": status, "started_at": started}))  # fmt: skip
    pipe.execute()
    client.close()
    yield cluster
    cluster.stop()


def test_every_primary_is_scanned(cluster):
    with connect(cluster.url, cluster=True) as conn:
        assert len(conn.nodes) == 3
        per_node = [node.dbsize() for node in conn.nodes]
        result = find_stale_jobs(conn, now=NOW, count=200)
    assert all(n > 0 for n in per_node) and sum(per_node) == JOBS
    assert result.dbsize == JOBS and result.keys_scanned == JOBS
    assert result.counts["stale"] == 30 and result.counts["other_status"] == JOBS - 30
    assert sorted(int(j["job_id"]) for j in result.stale_jobs) == list(range(0, JOBS, 100))
    assert result.errors == []


def test_a_kill_reaches_the_node_holding_each_job(cluster):
    with connect(cluster.url, cluster=True) as conn:
        found = find_stale_jobs(conn, now=NOW)
        some = found.stale_jobs[:6]
        result = kill_stale_jobs(conn, jobs=some, max_age_seconds=300, now=NOW)
        again = kill_stale_jobs(conn, jobs=some, max_age_seconds=300, now=NOW)
        values = [json.loads(conn.client.get(j["key"])) for j in some]
    assert sorted(result.killed) == sorted(j["job_id"] for j in some)
    assert all(v["status"] == "failed" for v in values)
    assert [s["reason"] for s in again.skipped] == [
        "The job is no longer processing (now 'failed')."
    ] * 6


def test_a_primary_that_dies_mid_scan_is_an_error_and_the_others_are_read(cluster):
    # Last in the module: it kills a node of the shared cluster.
    with connect(cluster.url, cluster=True, timeout=1) as conn:
        victim = conn.nodes[1]
        port = victim.connection_pool.connection_kwargs["port"]
        node = next(n for n in cluster.nodes if n.port == port)
        others = sum(n.dbsize() for n in conn.nodes if n is not victim)
        result = find_stale_jobs(conn, now=NOW, count=100, progress=lambda *_: node.kill())
    assert len(result.errors) == 1 and f":{port}" in result.errors[0]
    assert others <= result.keys_scanned < JOBS
