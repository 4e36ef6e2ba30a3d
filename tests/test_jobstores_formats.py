"""RQ and Celery jobs read as the seed's stale jobs: RQ keys as RQ 3.0 wrote them for a real
worker (captured from `rq worker`, 2026-12-02), and Celery messages a real kombu consumer
took with the Redis transport and did not acknowledge."""

import datetime as dt
import time
import zlib

import pytest
from celery import Celery
from kombu import Connection

from jobstores.formats import meta_user_id
from jobstores.redisconn import connect
from jobstores.scanning import CELERY_NOT_KILLED, find_stale_jobs, kill_stale_jobs
from tests.jobstores_redis import RedisServer

NOW = dt.datetime(2026, 12, 2, 14, 20, tzinfo=dt.UTC)
PICKLED_META = (
    b"\x80\x05\x95\x16\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x07user_id\x94\x8c\x05alice\x94s."
)


@pytest.fixture(scope="module")
def server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def client(server):
    client = server.client()
    client.flushall()
    yield client
    client.close()


def rq_job(client, job_id, *, queue="default", started_at, lease, status="started", meta=None,
           execution="71ecf829863f4f71962f23dc2cb9f162"):  # fmt: skip
    """A started job as RQ 2.x/3.0 writes it: the hash, and job_id:execution_id in wip."""
    fields = {
        "status": status,
        "created_at": "2026-12-02T14:09:01.261777Z",
        "data": zlib.compress(b"pickled call"),
        "success_callback_name": "",
        "failure_callback_name": "",
        "stopped_callback_name": "",
        "started_at": started_at,
        "ended_at": "",
        "last_heartbeat": started_at,
        "worker_name": "fee1f367390249648710b3ed3a3fe24b",
        "group_id": "",
        "origin": queue,
        "description": f"Summarise incident 42 for {job_id}",
        "enqueued_at": "2026-12-02T14:09:01.263924Z",
        "timeout": "180",
        "meta": meta if meta is not None else PICKLED_META,
    }
    client.hset(f"rq:job:{job_id}", mapping=fields)
    client.zadd(f"rq:wip:{queue}", {f"{job_id}:{execution}": lease})


def test_rq_started_jobs_past_their_age_or_lease_are_stale(client, server):
    rq_job(client, "old", started_at="2026-12-02T14:09:01.491398Z", lease=NOW.timestamp() + 60)
    rq_job(client, "young", started_at="2026-12-02T14:18:00.000000Z", lease=NOW.timestamp() + 60,
           meta=b'{"user_id": "bob"}', queue="ai")  # fmt: skip
    rq_job(client, "lost", started_at="2026-12-02T14:19:00.000000Z", lease=NOW.timestamp() - 5,
           meta=b'{"user_id": "carol"}')  # fmt: skip
    rq_job(client, "done", started_at="2026-12-02T14:00:00Z", lease=0, status="finished")
    client.zadd("rq:wip:default", {"vanished:0a1b": NOW.timestamp() + 60})
    client.set("rq:wip:broken", "a string")

    with connect(server.url) as conn:
        result = find_stale_jobs(conn, fmt="rq", now=NOW, max_age_seconds=300)

    assert result.counts["stale"] == 2
    assert result.counts["processing"] == 1
    assert result.counts["other_status"] == 1
    assert result.counts["vanished"] == 1
    assert result.counts["wrong_type"] == 1
    by_id = {j["job_id"]: j for j in result.stale_jobs}
    assert by_id["old"] == {
        "job_id": "old",
        "user_id": "alice",  # read from the pickle's opcodes, never unpickled
        "message": "Summarise incident 42 for old",
        "started_at": "2026-12-02T14:09:01.491398Z",
        "age_seconds": pytest.approx(658.508602),
        "key": "rq:job:old",
    }
    assert by_id["lost"]["user_id"] == "carol"


def test_rq_kill_fails_the_job_as_rq_does_and_leaves_a_finished_one(client, server):
    rq_job(client, "old", started_at="2026-12-02T14:09:01.491398Z", lease=NOW.timestamp() + 60)
    rq_job(client, "other", started_at="2026-12-02T14:09:01.491398Z", lease=NOW.timestamp() + 60,
           execution="aa")  # fmt: skip
    with connect(server.url) as conn:
        found = find_stale_jobs(conn, fmt="rq", now=NOW)
        client.hset("rq:job:other", "status", "finished")  # finished after the scan
        result = kill_stale_jobs(conn, jobs=found.stale_jobs, max_age_seconds=300, now=NOW,
                                 fmt="rq")  # fmt: skip

    assert result.killed == ["old"]
    assert result.skipped == [
        {"job_id": "other", "reason": "The job is no longer started (now 'finished')."}
    ]
    job = client.hgetall("rq:job:old")
    assert job[b"status"] == b"failed"
    assert job[b"ended_at"] == b"2026-12-02T14:20:00.000000Z"
    assert zlib.decompress(job[b"exc_info"]).startswith(b"Killed by Vigil")
    assert client.zrange("rq:wip:default", 0, -1) == [b"other:aa"]
    assert client.zscore("rq:failed:default", "old") == pytest.approx(NOW.timestamp() + 31536000)
    assert 31535990 < client.ttl("rq:job:old") <= 31536000


def test_meta_is_read_only_as_data():
    assert meta_user_id(PICKLED_META) == "alice"
    assert meta_user_id(b'{"user_id": 7}') == 7
    assert meta_user_id(b"\x80\x05garbage") is None
    # A pickle that would run a command if loaded: only read, nothing runs.
    evil = b"\x80\x05cos\nsystem\n\x8c\x04true\x85R\x94."
    assert meta_user_id(evil) is None


def test_celery_messages_held_unacknowledged_too_long_are_stale(server, client):
    url = f"redis://127.0.0.1:{server.port}/0"
    app = Celery("agents", broker=url, set_as_current=False)
    sent = app.send_task("agents.summarise", args=(42, "weekly"), queue="agents")
    young = app.send_task("agents.summarise", args=(7,), queue="agents")
    with Connection(url) as consumer:
        queue = consumer.SimpleQueue("agents", no_ack=False)
        taken = [queue.get(timeout=5), queue.get(timeout=5)]  # held, not acknowledged
        client.zadd("unacked_index", {taken[1].delivery_tag: time.time() + 400})
        assert client.hlen("unacked") == 2
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=400)

        with connect(server.url) as conn:
            result = find_stale_jobs(conn, fmt="celery", now=later, max_age_seconds=300,
                                     visibility_timeout=3600)  # fmt: skip
            killed = kill_stale_jobs(conn, jobs=result.stale_jobs, max_age_seconds=300,
                                     fmt="celery")  # fmt: skip
        for message in taken:
            message.ack()
        queue.close()

    assert result.counts["stale"] == 1 and result.counts["processing"] == 1
    [job] = result.stale_jobs
    assert job["job_id"] == sent.id != young.id
    assert job["message"] == "agents.summarise(42, 'weekly')"
    assert job["user_id"] is None and 399 < job["age_seconds"] < 460
    assert killed.killed == [] and killed.skipped == [
        {"job_id": sent.id, "reason": CELERY_NOT_KILLED}
    ]


def test_celery_past_the_visibility_timeout_is_stale_even_under_the_age(server, client):
    client.hset(
        "unacked",
        "tag-1",
        b'[{"headers": {"id": "t1", "task": "a.b", "argsrepr": "()"}}, "", "celery"]',
    )
    client.hset("unacked", "tag-2", b"not json")
    client.zadd("unacked_index", {"tag-1": NOW.timestamp() - 120, "tag-2": NOW.timestamp() - 120,
                                  "tag-3": NOW.timestamp() - 120})  # fmt: skip
    with connect(server.url) as conn:
        result = find_stale_jobs(conn, fmt="celery", now=NOW, max_age_seconds=300,
                                 visibility_timeout=60)  # fmt: skip
    assert [j["job_id"] for j in result.stale_jobs] == ["t1"]
    assert result.counts["not_json"] == 1 and result.counts["vanished"] == 1
