"""The stale-job scan and kill on a private redis-server: the seed's results with a clock the
test sets, every malformed value counted, jobs that change under the kill left alone, and
stores that fail said in words without the password."""

import datetime as dt
import json
import socket
import threading

import pytest

from jobstores.redisconn import StoreUnavailable, connect
from jobstores.scanning import find_stale_jobs, kill_stale_jobs
from tests.jobstores_redis import RedisServer, free_port

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
OUTCOMES = {
    "stale",
    "processing",
    "other_status",
    "not_json",
    "wrong_type",
    "missing_fields",
    "bad_time",
    "vanished",
    "too_large",
}


@pytest.fixture(scope="module")
def server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def redis_client(server):
    client = server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def conn(server, redis_client):
    with connect(server.url) as conn:
        yield conn


def put_job(client, job_id, *, status="processing", age=600, started_at=None, **extra):
    started = started_at or (NOW - dt.timedelta(seconds=age)).replace(tzinfo=None).isoformat()
    job = {
        "job_id": job_id,
        "user_id": f"user-{job_id}",
        "message": f"Summarise the incident for {job_id} " + "x" * 150,
        "status": status,
        "started_at": started,
        **extra,
    }
    client.set(f"job:{job_id}", json.dumps(job))
    return job


def test_it_finds_the_seeds_stale_jobs_by_the_clock_it_is_given(conn, redis_client):
    put_job(redis_client, "old", age=600)
    put_job(redis_client, "young", age=100)
    put_job(redis_client, "done", status="completed", age=900)
    redis_client.set("conv:1", "not a job")

    result = find_stale_jobs(conn, now=NOW, max_age_seconds=300)

    assert set(result.counts) == OUTCOMES
    assert result.counts["stale"] == 1
    assert result.counts["processing"] == 1
    assert result.counts["other_status"] == 1
    assert sum(result.counts.values()) == result.keys_scanned == 3
    assert result.dbsize == 4
    [job] = result.stale_jobs
    assert job == {
        "job_id": "old",
        "user_id": "user-old",
        "message": ("Summarise the incident for old " + "x" * 150)[:100],
        "started_at": (NOW - dt.timedelta(seconds=600)).replace(tzinfo=None).isoformat(),
        "age_seconds": 600.0,
        "key": "job:old",
    }
    assert result.errors == []
    assert result.as_dict()["counts"]["stale"] == 1

    later = find_stale_jobs(conn, now=NOW + dt.timedelta(seconds=250), max_age_seconds=300)
    assert [j["job_id"] for j in later.stale_jobs] == ["old", "young"]  # oldest first


def test_progress_is_told_keys_scanned_of_dbsize_and_at_the_end(conn, redis_client):
    for i in range(500):
        put_job(redis_client, f"j{i}", status="completed")
    calls = []
    find_stale_jobs(conn, now=NOW, count=50, progress=lambda n, total: calls.append((n, total)))
    assert calls[-1] == (500, 500)
    assert all(total == 500 for _, total in calls)


def test_it_kills_a_stale_job_the_seeds_way_and_keeps_its_other_fields(conn, redis_client):
    put_job(redis_client, "old", age=600, model="claude", turns=7)
    found = find_stale_jobs(conn, now=NOW)
    killed_at = NOW + dt.timedelta(seconds=5)

    result = kill_stale_jobs(conn, jobs=found.stale_jobs, max_age_seconds=300, now=killed_at)

    assert result.killed == ["old"]
    assert result.skipped == [] and result.errors == []
    job = json.loads(redis_client.get("job:old"))
    assert job["status"] == "failed"
    assert job["error"] == "Killed: Processing timeout (300s)"
    assert job["failed_at"] == "2026-12-02T12:00:05"  # naive UTC, as utcnow().isoformat()
    assert job["model"] == "claude" and job["turns"] == 7 and job["user_id"] == "user-old"
    assert 3590 < redis_client.ttl("job:old") <= 3600


def test_a_job_that_finished_between_scan_and_kill_is_not_clobbered(conn, redis_client):
    put_job(redis_client, "old", age=600)
    found = find_stale_jobs(conn, now=NOW)
    finished = put_job(redis_client, "old", status="completed", age=600, result="42")

    result = kill_stale_jobs(conn, jobs=found.stale_jobs, max_age_seconds=300, now=NOW)

    assert result.killed == []
    assert result.skipped == [
        {"job_id": "old", "reason": "The job is no longer processing (now 'completed')."}
    ]
    assert json.loads(redis_client.get("job:old")) == finished
    assert redis_client.ttl("job:old") == -1


def test_a_job_that_finishes_while_the_kill_watches_it_is_not_clobbered(conn, redis_client):
    put_job(redis_client, "old", age=600)
    found = find_stale_jobs(conn, now=NOW)
    raced = []

    def finish_it(job):
        # Another worker writes the job between Vigil's check and its write.
        raced.append(put_job(redis_client, "old", status="completed", age=600))

    result = kill_stale_jobs(
        conn, jobs=found.stale_jobs, max_age_seconds=300, now=NOW, on_checked=finish_it
    )

    assert raced and result.killed == []
    assert result.skipped[0]["reason"].startswith("The job is no longer processing")
    assert json.loads(redis_client.get("job:old")) == raced[0]


def test_a_job_started_again_or_deleted_since_the_scan_is_left_alone(conn, redis_client):
    put_job(redis_client, "again", age=600)
    put_job(redis_client, "gone", age=600)
    found = find_stale_jobs(conn, now=NOW)
    put_job(redis_client, "again", age=10)
    redis_client.delete("job:gone")

    result = kill_stale_jobs(conn, jobs=found.stale_jobs, max_age_seconds=300, now=NOW)

    reasons = {s["job_id"]: s["reason"] for s in result.skipped}
    assert reasons == {
        "again": "The job was started again since the scan.",
        "gone": "The job is gone.",
    }
    assert json.loads(redis_client.get("job:again"))["status"] == "processing"
    assert not redis_client.exists("job:gone")


def test_malformed_values_are_counted_and_times_read_as_utc(conn, redis_client):
    redis_client.set("job:text", "not json {")
    redis_client.set("job:empty", "")
    redis_client.rpush("job:list", "a", "b")
    redis_client.hset("job:hash", mapping={"status": "processing"})
    redis_client.set("job:array", "[1, 2]")
    redis_client.set("job:number", "7")
    redis_client.set("job:nostatus", json.dumps({"job_id": "x", "started_at": "2026-12-02"}))
    redis_client.set("job:noid", json.dumps({"status": "processing", "started_at": "2026"}))
    put_job(redis_client, "badtime", started_at="yesterday-ish")
    put_job(redis_client, "numtime", started_at=12345)
    put_job(redis_client, "naive", started_at="2026-12-02T11:50:00")
    put_job(redis_client, "aware", started_at="2026-12-02T13:50:00+02:00")
    put_job(redis_client, "zulu", started_at="2026-12-02T11:58:00Z")
    redis_client.set("job:nouser", json.dumps({"job_id": "n", "status": "processing",
                                                "started_at": "2026-12-02T11:00:00"}))  # fmt: skip

    result = find_stale_jobs(conn, now=NOW, max_age_seconds=300)

    assert result.counts == {
        "stale": 3,
        "processing": 1,
        "other_status": 0,
        "not_json": 2,
        "wrong_type": 2,
        "missing_fields": 4,
        "bad_time": 2,
        "vanished": 0,
        "too_large": 0,
    }
    ages = {j["job_id"]: j["age_seconds"] for j in result.stale_jobs}
    assert ages == {"naive": 600.0, "aware": 600.0, "n": 3600.0}
    nouser = next(j for j in result.stale_jobs if j["job_id"] == "n")
    assert nouser["user_id"] is None and nouser["message"] == ""
    assert result.errors == []


def test_a_50_mb_value_is_too_large_and_the_scan_goes_on(conn, redis_client):
    redis_client.set("job:huge", b'{"job_id": "' + b"h" * 50_000_000 + b'"}')
    for i in range(20):
        put_job(redis_client, f"j{i}", age=600)

    result = find_stale_jobs(conn, now=NOW, count=5)

    assert result.counts["too_large"] == 1
    assert result.counts["stale"] == 20
    assert result.duration_seconds < 2  # the 50 MB never crossed the socket


def test_keys_that_vanish_between_scan_and_read_are_counted(conn, redis_client):
    for i in range(3000):
        put_job(redis_client, f"j{i}", status="completed")
    deleted = []

    def delete_all(scanned, dbsize):
        if not deleted:
            deleted.append(redis_client.delete(*redis_client.keys("job:*")))

    result = find_stale_jobs(conn, now=NOW, count=100, progress=delete_all)

    assert result.counts["vanished"] > 0
    assert result.counts["vanished"] + result.counts["other_status"] == result.keys_scanned
    assert result.errors == []


def test_a_script_cache_flushed_mid_scan_loses_no_key(conn, redis_client):
    for i in range(3000):
        put_job(redis_client, f"j{i}", status="completed")
    put_job(redis_client, "stuck", age=900)
    redis_client.set("job:list", "x")
    redis_client.delete("job:list")
    redis_client.rpush("job:list", "a")
    flushed = []

    def flush(scanned, dbsize):
        if not flushed:
            flushed.append(redis_client.script_flush())

    result = find_stale_jobs(conn, now=NOW, count=100, progress=flush)

    assert flushed
    assert result.keys_scanned == 3002
    assert result.counts["other_status"] == 3000
    assert result.counts["stale"] == 1 and result.counts["wrong_type"] == 1
    assert result.errors == []


def test_a_port_that_refuses_is_unavailable_in_words():
    with pytest.raises(StoreUnavailable) as caught:
        connect(f"redis://:hunter2@127.0.0.1:{free_port()}/0", timeout=1)
    assert "refused the connection" in str(caught.value)
    assert "hunter2" not in str(caught.value) and caught.value.__cause__ is None


def test_a_server_that_never_answers_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    held = []
    accepting = threading.Thread(target=lambda: held.append(listener.accept()), daemon=True)
    accepting.start()
    try:
        with pytest.raises(StoreUnavailable) as caught:
            connect(f"redis://:hunter2@127.0.0.1:{listener.getsockname()[1]}/0", timeout=0.5)
        assert str(caught.value) == (
            f"Redis at 127.0.0.1:{listener.getsockname()[1]} did not answer within 0.5 s."
        )
    finally:
        listener.close()
        for sock, _ in held:
            sock.close()


def test_a_wrong_or_missing_password_is_said_without_the_password():
    server = RedisServer("--requirepass", "correct-horse-battery")
    try:
        with pytest.raises(StoreUnavailable) as wrong:
            connect(f"redis://:not-the-one-42@127.0.0.1:{server.port}/0")
        assert "refused the password" in str(wrong.value)
        with pytest.raises(StoreUnavailable) as missing:
            connect(f"redis://127.0.0.1:{server.port}/0")
        assert "asks for a password" in str(missing.value)
        for message in (str(wrong.value), str(missing.value)):
            assert "not-the-one-42" not in message and "correct-horse" not in message
        with connect(server.url) as conn:
            assert find_stale_jobs(conn, now=NOW).errors == []
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("unix:///tmp/redis.sock", "Unix sockets are not allowed"),
        ("http://127.0.0.1:6379", "Not a Redis URL"),
        ("redis://:pw@127.0.0.1:99999/0", "Not a Redis URL"),
        ("redis://127.0.0.1:6379/zero", "Not a Redis URL"),
    ],
)
def test_what_is_not_a_redis_url_is_refused(url, expected):
    with pytest.raises(StoreUnavailable, match=expected):
        connect(url)


def test_an_address_the_outbound_rule_refuses_is_not_connected_to(server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    with pytest.raises(StoreUnavailable, match="loopback"):
        connect(server.url)


def test_a_node_killed_mid_scan_is_an_error_not_a_crash():
    server = RedisServer()
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for i in range(5000):
        pipe.set(f"job:{i}", json.dumps({"job_id": i, "status": "done", "started_at": "x"}))
    pipe.execute()
    try:
        with connect(server.url, timeout=1) as conn:
            result = find_stale_jobs(
                conn, now=NOW, count=100, progress=lambda n, total: server.kill()
            )
        assert 0 < result.keys_scanned < 5000
        assert len(result.errors) == 1
        assert result.errors[0].startswith(f"Redis at 127.0.0.1:{server.port}")
        assert "The scan of that node stopped." in result.errors[0]
    finally:
        client.close()
        server.stop()
