"""Queue depths, feature flags and the depth alert against real Redis: the shared one for small
reads, a redis-server of the test's own for many keys and two nodes, and a three-primary
Redis Cluster for what a cluster changes (SCAN per primary, keys routed by slot)."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.cluster import RedisCluster

from jobstores.conversations import analyze_conversation
from jobstores.errors import stream_error_patterns
from jobstores.queues import (
    depth_breached,
    flag_off_value,
    queue_depths,
    read_flag_values,
    read_flags,
    read_queues,
    set_flag_if,
)
from tests.paging_fakes import private_redis, wait_port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def client():
    """The shared Redis (the test's db), every key under a prefix of the test's own."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.prefix = f"vigil-test:{uuid.uuid4().hex}:"
    yield client
    for key in client.scan_iter(match=f"{client.prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(scope="module")
def own_redis():
    port = free_port()
    with private_redis(port):
        client = redis.Redis(port=port)
        yield client
        client.close()


# --- queue depths ----------------------------------------------------------------------


def test_it_reads_the_depth_of_every_queue(client):
    p = client.prefix
    client.rpush(f"{p}queue:priority:1", *range(3))
    client.rpush(f"{p}queue:priority:2", "job")
    client.rpush(f"{p}queue:other", "not matched")
    assert queue_depths([client], f"{p}queue:priority:*") == {
        f"{p}queue:priority:1": 3,
        f"{p}queue:priority:2": 1,
    }


def test_keys_that_are_not_lists_are_skipped_and_said(client):
    p = client.prefix
    client.rpush(f"{p}queue:priority:1", "job")
    client.hset(f"{p}queue:priority:stats", "done", 4)
    client.set(f"{p}queue:priority:paused", "yes")
    client.rpush(p.encode() + b"queue:priority:\xff", "job")
    reading = read_queues([client], f"{p}queue:priority:*")
    assert reading.depths == {f"{p}queue:priority:1": 1}
    assert reading.skipped == {
        f"{p}queue:priority:stats": "a hash",
        f"{p}queue:priority:paused": "a string",
        f"{p}queue:priority:\ufffd": "its name is not UTF-8",
    }


def test_no_matching_key_is_no_queue(client):
    assert queue_depths([client], f"{client.prefix}queue:*") == {}


def test_it_reads_every_node_and_ten_thousand_queues_quickly(client, own_redis):
    own_redis.flushdb()
    with own_redis.pipeline(transaction=False) as pipe:
        for n in range(10_000):
            pipe.rpush(f"queue:priority:{n}", *range(n % 5 + 1))
        pipe.execute()
    client.rpush(f"{client.prefix}queue:priority:shared", "job")
    started = time.perf_counter()
    depths = queue_depths([own_redis, client], "*queue:priority:*")
    elapsed = time.perf_counter() - started
    assert len(depths) >= 10_001
    assert depths["queue:priority:7"] == 3
    assert depths[f"{client.prefix}queue:priority:shared"] == 1
    assert elapsed < 3, f"took {elapsed:.2f}s"
    own_redis.flushdb()


# --- flags -----------------------------------------------------------------------------


def test_it_reads_string_flags_and_skips_the_rest(client):
    p = client.prefix
    client.set(f"{p}flag:new_model", "true")
    client.set(f"{p}flag:json", json.dumps({"enabled": True, "rollout": 10}))
    client.set(f"{p}flag:bytes", b"on\xff")
    client.hset(f"{p}flag:hash", "enabled", "true")
    assert read_flags([client], client, f"{p}flag:*") == {
        f"{p}flag:bytes": "on\ufffd",
        f"{p}flag:json": '{"enabled": true, "rollout": 10}',
        f"{p}flag:new_model": "true",
    }
    reading = read_flag_values([client], client, f"{p}flag:*", max_bytes=4)
    assert reading.skipped == {
        f"{p}flag:hash": "a hash",
        f"{p}flag:json": "longer than 4 bytes",
    }
    assert reading.values[f"{p}flag:new_model"] == "true"


@pytest.mark.parametrize(
    ("value", "off"),
    [
        ("true", "false"),
        ("True", "False"),
        ("TRUE", "FALSE"),
        ("1", "0"),
        ("on", "off"),
        ("On", "Off"),
        ("yes", "no"),
        ("enabled", "disabled"),
        ("Enabled", "Disabled"),
        ("true\n", "false\n"),
        ("false", "false"),
        ("0", "0"),
        ("disabled", "disabled"),
        ('"true"', '"false"'),
        ('{"enabled": true, "rollout": 10}', '{"enabled": false, "rollout": 10}'),
        ('{"rollout":10,"enabled":true}', '{"rollout":10,"enabled":false}'),
        (
            '{"variant": {"enabled": true}, "enabled": true}',
            '{"variant": {"enabled": true}, "enabled": false}',
        ),
        ('{"enabled": "on"}', '{"enabled": "off"}'),
        ('{"enabled": false}', '{"enabled": false}'),
        ('{\n  "enabled" : true\n}', '{\n  "enabled" : false\n}'),
    ],
)
def test_it_turns_a_flag_off_in_its_own_form(value, off):
    assert flag_off_value(value) == off


@pytest.mark.parametrize(
    "value",
    ["", "maybe", "2", "50%", '{"rollout": 10}', '{"enabled": 1}', "[true]", "null", "{" * 5000],
)
def test_it_says_when_it_cannot_tell_what_off_is(value):
    with pytest.raises(ValueError, match="Vigil cannot tell what 'off' is for this flag's value"):
        flag_off_value(value)


def test_it_sets_a_flag_only_while_it_holds_what_vigil_read(client):
    key = f"{client.prefix}flag:new_model"
    client.set(key, "true", ex=600)
    assert set_flag_if(client, key, "true", "false") is True
    assert client.get(key) == b"false"
    assert 590 < client.ttl(key) <= 600
    # Someone turned it back on meanwhile with another value: nothing is written.
    client.set(key, "True")
    assert set_flag_if(client, key, "false", "off") is False
    assert client.get(key) == b"True"
    assert client.ttl(key) == -1
    assert set_flag_if(client, key, "True", "False") is True
    assert client.ttl(key) == -1


def test_it_never_writes_a_flag_gone_or_of_another_type(client):
    key = f"{client.prefix}flag:x"
    assert set_flag_if(client, key, "true", "false") is False
    assert not client.exists(key)
    client.hset(key, "enabled", "true")
    assert set_flag_if(client, key, "true", "false") is False
    assert client.hgetall(key) == {b"enabled": b"true"}


def test_a_value_read_with_bad_bytes_is_never_overwritten(client):
    key = f"{client.prefix}flag:bytes"
    client.set(key, b"on\xff")
    [read] = read_flags([client], client, key).values()
    assert set_flag_if(client, key, read, "off") is False
    assert client.get(key) == b"on\xff"


def test_of_two_people_disabling_at_once_one_writes(own_redis):
    own_redis.set("flag:race", "on")
    results = []
    barrier = threading.Barrier(8)

    def disable(off):
        # One connection each, as two Vigil workers would have.
        with redis.Redis(port=own_redis.connection_pool.connection_kwargs["port"]) as mine:
            mine.ping()
            barrier.wait()
            results.append(set_flag_if(mine, "flag:race", "on", off))

    threads = [threading.Thread(target=disable, args=(f"off-{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert own_redis.get("flag:race").startswith(b"off-")


# --- the depth alert -------------------------------------------------------------------

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def every_minute(depths, *, end=NOW):
    """Samples a minute apart, the last at `end`."""
    return [(end - timedelta(minutes=len(depths) - 1 - i), d) for i, d in enumerate(depths)]


def breached(samples, threshold=1000, minutes=15, now=NOW, **kwargs):
    return depth_breached(samples, threshold=threshold, minutes=minutes, now=now, **kwargs)


def test_fifteen_minutes_over_is_a_breach():
    assert breached(every_minute([1500] * 16)) is True


def test_exactly_fifteen_minutes_is_a_breach_and_a_second_less_is_not():
    samples = every_minute([1500] * 16)
    assert breached(samples) is True
    assert breached(samples[1:]) is False  # the first over-sample is 14 min ago
    assert breached(samples, now=NOW - timedelta(seconds=1)) is False


def test_one_sample_at_the_threshold_is_not_over():
    depths = [1500] * 16
    depths[7] = 1000
    assert breached(every_minute(depths)) is False
    depths[7] = 1001
    assert breached(every_minute(depths)) is True


def test_a_dip_before_the_window_does_not_count():
    assert breached(every_minute([10, 10] + [1500] * 16)) is True
    assert breached(every_minute([10] + [1500] * 15)) is False


def test_a_gap_in_the_samples_is_not_a_breach():
    samples = every_minute([1500] * 16)
    gapped = samples[:4] + samples[10:]  # six minutes without a reading
    assert breached(gapped) is False
    assert breached(gapped, max_gap=timedelta(minutes=7)) is True
    assert breached(samples[:4] + samples[8:]) is True  # four minutes is within the default


def test_readings_that_stopped_are_not_a_breach():
    samples = every_minute([1500] * 16, end=NOW - timedelta(minutes=6))
    assert breached(samples, minutes=5) is False
    assert breached([], minutes=15) is False


def test_samples_after_now_and_unsorted_are_fine():
    samples = every_minute([1500] * 16)
    assert breached([*reversed(samples), (NOW + timedelta(minutes=1), 5)]) is True


# --- a Redis Cluster -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """Three primaries, slots split between them: (RedisCluster client, one Redis per node)."""
    folder = tempfile.mkdtemp(prefix="vigil-cluster-")
    ports = [free_port() for _ in range(3)]
    # Bus ports of their own: port + 10000 may be past 65535 or taken.
    buses = [free_port() for _ in range(3)]
    procs = []
    try:
        for port, bus in zip(ports, buses, strict=True):
            procs.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port", str(port),
                        "--bind", "127.0.0.1",
                        "--save", "",
                        "--appendonly", "no",
                        "--dir", folder,
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", f"nodes-{port}.conf",
                        "--cluster-port", str(bus),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for port in ports:
            wait_port(port)
        nodes = [redis.Redis(port=port) for port in ports]
        bounds = [0, 5461, 10923, 16384]
        for i, node in enumerate(nodes):
            node.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
            node.execute_command("CLUSTER", "ADDSLOTSRANGE", bounds[i], bounds[i + 1] - 1)
        for port, bus in zip(ports[1:], buses[1:], strict=True):
            nodes[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port, bus)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = [node.cluster("info") for node in nodes]
            if all(
                s["cluster_state"] == "ok" and int(s["cluster_known_nodes"]) == 3 for s in states
            ):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the test cluster never formed")
        client = RedisCluster(host="127.0.0.1", port=ports[0])
        yield client, nodes
        client.close()
        for node in nodes:
            node.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_cluster_is_read_on_every_primary(cluster):
    client, nodes = cluster
    for n in range(30):
        client.rpush(f"queue:priority:{n}", *range(n + 1))
        client.set(f"flag:f{n}", "on" if n % 2 else "off")
    # The keys really are spread: each primary holds some.
    assert all(node.dbsize() > 0 for node in nodes)
    depths = queue_depths(nodes, "queue:priority:*")
    assert depths == {f"queue:priority:{n}": n + 1 for n in range(30)}
    flags = read_flags(nodes, client, "flag:*")
    assert len(flags) == 30
    assert flags["flag:f3"] == "on"


def test_a_flag_is_set_through_the_cluster_client(cluster):
    client, _ = cluster
    client.set("flag:cluster", "enabled", ex=100)
    assert set_flag_if(client, "flag:cluster", "enabled", flag_off_value("enabled")) is True
    assert client.get("flag:cluster") == b"disabled"
    assert client.ttl("flag:cluster") > 90
    assert set_flag_if(client, "flag:cluster", "enabled", "disabled") is False


def test_conversations_and_error_streams_read_through_the_cluster_client(cluster):
    client, _ = cluster
    client.set("conv:c1", json.dumps([{"role": "user", "content": "hi there"}]))
    assert analyze_conversation(client, "c1")["total_messages"] == 1
    assert analyze_conversation(client, "missing") == {"error": "Conversation not found"}
    client.xadd("errors", {"type": "APITimeoutError"})
    client.xadd("errors", {"data": json.dumps({"type": "RateLimitError"})})
    result = stream_error_patterns(client)
    assert result["total_errors"] == 2
    assert {e["type"] for e in result["top_errors"]} == {"APITimeoutError", "RateLimitError"}
