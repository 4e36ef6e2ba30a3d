"""The source document's find_stale_jobs and kill_stale_jobs, done for real and fast.

A scan walks each primary's keys with SCAN and a COUNT hint (never KEYS). Each batch is read
with one read-only script call that returns every value, or a code for a key that vanished,
holds another type or is larger than `max_value_bytes` (so a 50 MB value never crosses the
network); the next SCAN travels in the same pipeline as the batch's read, so the two overlap.
Every key is counted by outcome and nothing in the data stops a scan; a node that fails is
said in `errors` and the other nodes go on.

Formats: the seed's JSON jobs (`job:<id>` strings), RQ's started-job registries and job
hashes, and Celery's Redis transport (the `unacked` hash and its `unacked_index`); the two
last are read in `jobstores.formats`.
"""

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import redis
import structlog
from redis.crc import key_slot

from jobstores import formats
from jobstores.formats import OUTCOMES, parse_time, stale_job, text
from jobstores.redisconn import node_label, reason

logger = structlog.get_logger(__name__)

KILL_EXPIRY = 3600  # the seed's ex=3600
PROGRESS_EVERY = 0.25
KILL_ATTEMPTS = 5

# Per key: the value, 0 (vanished), -1 (another type) or -2 (over ARGV[1] bytes). The flags
# let a cluster node run it over keys of several of its slots (Redis 7); older servers get
# the script without them, one call per slot in a cluster.
_READ_BODY = """
local limit = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.pcall('STRLEN', key)
  if type(n) == 'table' then out[i] = -1
  elseif n > limit then out[i] = -2
  else out[i] = redis.call('GET', key) or 0 end
end
return out
"""
_READ_FLAGGED = "#!lua flags=no-writes,allow-cross-slot-keys\n" + _READ_BODY
# The same answers for a standalone server, a third cheaper for Redis: one MGET, then a look
# only at the keys it found no string for. A value over the limit is copied inside Redis
# but still never sent.
_READ_MGET_BODY = """
local limit = tonumber(ARGV[1])
local values = redis.call('MGET', unpack(KEYS))
for i = 1, #KEYS do
  local value = values[i]
  if not value then
    if redis.call('EXISTS', KEYS[i]) == 1 then values[i] = -1 else values[i] = 0 end
  elseif #value > limit then values[i] = -2 end
end
return values
"""
_READ_MGET = "#!lua flags=no-writes\n" + _READ_MGET_BODY
# Lua's stack holds a few thousand MGET arguments; a SCAN batch larger than this (rare: SCAN
# may return more than COUNT) is read key by key.
MGET_MOST = 4000


@dataclass
class ScanResult:
    stale_jobs: list = field(default_factory=list)
    counts: dict = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    keys_scanned: int = 0
    dbsize: int = 0
    errors: list = field(default_factory=list)
    duration_seconds: float = 0.0
    keys_per_second: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class KillResult:
    killed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


class Progress:
    """Calls back (keys_scanned, dbsize) at most every PROGRESS_EVERY seconds, and at the end."""

    def __init__(self, callback, result):
        self.callback, self.result, self.last = callback, result, 0.0

    def tick(self):
        if self.callback and time.monotonic() - self.last >= PROGRESS_EVERY:
            self.last = time.monotonic()
            self.callback(self.result.keys_scanned, self.result.dbsize)

    def done(self):
        if self.callback:
            self.callback(self.result.keys_scanned, self.result.dbsize)


def _timeout(node) -> float:
    return node.connection_pool.connection_kwargs.get("socket_timeout") or 5.0


# --- the scan --------------------------------------------------------------------------


def find_stale_jobs(
    conn,
    *,
    fmt: str = "json",
    pattern: str = "job:*",
    max_age_seconds: int = 300,
    now: datetime | None = None,
    visibility_timeout: int = 3600,
    progress: Callable[[int, int], None] | None = None,
    # 250 keys a batch keeps the platform's own commands under 5 ms at p99 behind a scan
    # (bench/jobstores_bench.py); 1000 is barely faster and doubles the wait.
    count: int = 250,
    max_value_bytes: int = 1_048_576,
) -> ScanResult:
    """The stale jobs and every key counted by outcome; problems go to `errors`."""
    if fmt not in ("json", "rq", "celery"):
        raise ValueError(f"Unknown job format {fmt!r}")
    started = time.perf_counter()
    now = _now(now)
    result = ScanResult()
    reachable = []
    for node in conn.nodes:
        try:
            result.dbsize += node.dbsize()
            reachable.append(node)
        except (redis.RedisError, OSError) as exc:
            result.errors.append(reason(exc, node_label(node), _timeout(node)))
    reporter = Progress(progress, result)
    options = {
        "result": result,
        "pattern": pattern,
        "max_age": max_age_seconds,
        "now": now,
        "visibility_timeout": visibility_timeout,
        "count": max(1, int(count)),
        "max_bytes": max_value_bytes,
        "reporter": reporter,
    }
    if fmt == "celery":
        # Two keys, wherever the cluster keeps them: read through the routing client.
        _guarded(result, conn.label, _timeout(conn.nodes[0]), formats.scan_celery, conn, options)
    else:
        reader = _scan_json if fmt == "json" else formats.scan_rq
        for node in reachable:
            _guarded(result, node_label(node), _timeout(node), reader, node, options, conn=conn)
    result.stale_jobs.sort(key=lambda job: -(job["age_seconds"] or 0))
    result.duration_seconds = time.perf_counter() - started
    result.keys_per_second = result.keys_scanned / max(result.duration_seconds, 1e-9)
    reporter.done()
    logger.info(
        "stale_jobs_found",
        store=conn.label,
        format=fmt,
        count=len(result.stale_jobs),
        keys_scanned=result.keys_scanned,
        errors=len(result.errors),
    )
    return result


def _guarded(result, label, timeout, reader, target, options, **extra):
    """One node's part of the scan; its failure is said and the others go on."""
    try:
        reader(target, **options, **extra)
    except (redis.RedisError, OSError) as exc:
        result.errors.append(f"{reason(exc, label, timeout)} The scan of that node stopped.")


class _Reader:
    """The batch-read script on one node, loaded once, reloaded if the server forgot it."""

    def __init__(self, node, cluster: bool):
        self.node = node
        self.per_slot = False
        self.mget_sha = None
        try:
            self.sha = node.script_load(_READ_FLAGGED)
            if not cluster:
                self.mget_body = _READ_MGET
                self.mget_sha = node.script_load(_READ_MGET)
        except redis.ResponseError:
            # Redis before 7.0 knows no script flags: cross-slot calls are not possible.
            self.sha = node.script_load(_READ_BODY)
            self.per_slot = cluster
            if not cluster:
                self.mget_body = _READ_MGET_BODY
                self.mget_sha = node.script_load(_READ_MGET_BODY)
        self.body = _READ_FLAGGED if not self.per_slot and cluster else _READ_BODY

    def commands(self, keys, max_bytes) -> tuple[list[tuple], list[list[int]] | None]:
        """The read of `keys`, and the key groups when split by slot."""
        if not keys:
            return [], None
        if self.mget_sha and len(keys) <= MGET_MOST:
            return [("EVALSHA", self.mget_sha, len(keys), *keys, max_bytes)], None
        if not self.per_slot:
            return [("EVALSHA", self.sha, len(keys), *keys, max_bytes)], None
        by_slot: dict[int, list[int]] = {}
        for i, key in enumerate(keys):
            by_slot.setdefault(key_slot(key), []).append(i)
        groups = list(by_slot.values())
        group_keys = [[keys[i] for i in group] for group in groups]
        return [("EVALSHA", self.sha, len(g), *g, max_bytes) for g in group_keys], groups


def _scan_json(node, *, result, pattern, max_age, now, count, max_bytes, reporter, conn, **_):
    reader = _Reader(node, cluster=getattr(conn, "cluster", False))
    cutoff = now - timedelta(seconds=max_age)
    scan = ("SCAN", None, "MATCH", pattern, "COUNT", count)
    connection = node.connection_pool.get_connection()
    healthy = False
    try:
        cursor, keys = node.scan(0, match=pattern, count=count)
        pending = _send_batch(connection, reader, keys, cursor, scan, max_bytes)
        while pending is not None:
            # Read batch i's values and batch i+1's keys, ask for batch i+1 at once, then
            # classify batch i while Redis reads the next one: both cores work.
            keys, groups, asked = pending
            answers = _read_answers(connection, asked)
            if cursor != 0:
                scanned = answers.pop()
                if isinstance(scanned, Exception):
                    raise scanned
                cursor, next_keys = int(scanned[0]), scanned[1]
                pending = _send_batch(connection, reader, next_keys, cursor, scan, max_bytes)
            else:
                pending = None
            values = _values(node, reader, keys, answers, groups, max_bytes)
            _classify_json(result, keys, values, cutoff, now)
            result.keys_scanned += len(keys)
            reporter.tick()
        healthy = True
    finally:
        if not healthy:
            connection.disconnect()  # replies may be left unread on it
        node.connection_pool.release(connection)


def _send_batch(connection, reader, keys, cursor, scan, max_bytes):
    """Sends the read of `keys` and, unless the scan is over, the next SCAN; not waiting."""
    commands, groups = reader.commands(keys, max_bytes)
    if cursor != 0:
        commands.append((scan[0], cursor, *scan[2:]))
    if commands:
        connection.send_packed_command(connection.pack_commands(commands))
    return keys, groups, len(commands)


def _read_answers(connection, asked: int) -> list:
    answers = []
    for _ in range(asked):
        try:
            answers.append(connection.read_response())
        except redis.ResponseError as exc:
            answers.append(exc)
    return answers


def _values(node, reader, keys, answers, groups, max_bytes) -> list:
    if not keys:
        return []
    if groups is None:
        values = answers[0]
    else:
        values = [None] * len(keys)
        for group, answer in zip(groups, answers, strict=False):
            if isinstance(answer, Exception):
                values = answer
                break
            for i, value in zip(group, answer, strict=True):
                values[i] = value
    if not isinstance(values, Exception):
        return values
    if isinstance(values, redis.exceptions.NoScriptError):
        reader.sha = node.script_load(reader.body)
        if reader.mget_sha:
            reader.mget_sha = node.script_load(reader.mget_body)
    elif not isinstance(values, redis.ResponseError):
        raise values
    # The script was flushed, or a key moved to another node meanwhile: one call per key.
    pipe = node.pipeline(transaction=False)
    for key in keys:
        pipe.evalsha(reader.sha, 1, key, max_bytes)
    return [v[0] if isinstance(v, list) else 0 for v in pipe.execute(raise_on_error=False)]


_CODES = {0: "vanished", -1: "wrong_type", -2: "too_large"}


def _classify_json(result, keys, values, cutoff, now):
    counts = result.counts
    loads, JSONError = orjson.loads, orjson.JSONDecodeError  # noqa: N806
    for key, value in zip(keys, values, strict=True):
        if value.__class__ is int:
            counts[_CODES.get(value, "vanished")] += 1
            continue
        try:
            job = loads(value)
        except JSONError:
            try:  # orjson refuses what the seed's json.loads reads (NaN, huge integers)
                job = json.loads(value)
            except (ValueError, RecursionError):
                counts["not_json"] += 1
                continue
        if job.__class__ is not dict:
            counts["missing_fields"] += 1
            continue
        status = job.get("status")
        started_raw = job.get("started_at")
        if job.get("job_id") is None or status is None or started_raw is None:
            counts["missing_fields"] += 1
            continue
        if status != "processing":
            counts["other_status"] += 1
            continue
        started_at = parse_time(started_raw)
        if started_at is None:
            counts["bad_time"] += 1
        elif started_at < cutoff:
            counts["stale"] += 1
            result.stale_jobs.append(
                stale_job(
                    job["job_id"],
                    job.get("user_id"),
                    job.get("message"),
                    started_raw,
                    (now - started_at).total_seconds(),
                    text(key),
                )
            )
        else:
            counts["processing"] += 1


# --- the kill --------------------------------------------------------------------------

CELERY_NOT_KILLED = (
    "Celery messages cannot be killed from Vigil; revoke the task "
    "(celery control revoke --terminate <task id>)."
)


def kill_stale_jobs(
    conn,
    *,
    jobs: list,
    max_age_seconds: int,
    now: datetime | None = None,
    fmt: str = "json",
    on_checked: Callable[[dict], None] | None = None,
) -> KillResult:
    """Marks each job failed the seed's way, only if it is still the stale job the scan saw
    (checked and written atomically per job); anything else is skipped with the reason.
    `on_checked(job)` runs between the check and the write (tests race it)."""
    now = _now(now)
    result = KillResult()
    if fmt == "celery":
        result.skipped = [
            {"job_id": job.get("job_id"), "reason": CELERY_NOT_KILLED} for job in jobs
        ]
        return result
    if fmt not in ("json", "rq"):
        raise ValueError(f"Unknown job format {fmt!r}")
    for job in jobs:
        job_id = job.get("job_id")
        try:
            if fmt == "rq":
                outcome = formats.kill_rq(conn, job, max_age_seconds, now, on_checked)
            else:
                outcome = _kill_json(conn, job, max_age_seconds, now, on_checked)
        except (redis.RedisError, OSError) as exc:
            result.errors.append(f"{job_id}: {reason(exc, conn.label)}")
            continue
        if outcome is None:
            result.killed.append(job_id)
            logger.warning(
                "stale_job_killed", job_id=job_id, age_seconds=job.get("age_seconds"), fmt=fmt
            )
        else:
            result.skipped.append({"job_id": job_id, "reason": outcome})
    return result


def _key_client(conn, key):
    """The node holding `key` (WATCH works on one connection, so in a cluster its node)."""
    if not getattr(conn, "cluster", False):
        return conn.client
    return conn.client.get_redis_connection(conn.client.get_node_from_key(key))


def _kill_json(conn, job, max_age, now, on_checked) -> str | None:
    key = job.get("key") or f"job:{job['job_id']}"
    with _key_client(conn, key).pipeline() as pipe:
        for _ in range(KILL_ATTEMPTS):
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                current, why = _still_stale_json(raw, job)
                if why:
                    return why
                if on_checked:
                    on_checked(job)
                current["status"] = "failed"
                current["error"] = f"Killed: Processing timeout ({max_age}s)"
                current["failed_at"] = now.replace(tzinfo=None).isoformat()
                pipe.multi()
                pipe.set(key, json.dumps(current), ex=KILL_EXPIRY)
                pipe.execute()
                return None
            except redis.WatchError:
                continue
            except redis.ResponseError as exc:
                if "WRONGTYPE" in str(exc):
                    return "The job's key now holds another type."
                raise
    return "The job kept changing while Vigil tried to kill it; left alone."


def _still_stale_json(raw, job) -> tuple[dict | None, str | None]:
    if raw is None:
        return None, "The job is gone."
    try:
        current = json.loads(raw)
    except (ValueError, RecursionError):
        return None, "The job's value is no longer JSON."
    if not isinstance(current, dict):
        return None, "The job's value is no longer a JSON object."
    if current.get("status") != "processing":
        return None, f"The job is no longer processing (now {text(current.get('status'))!r})."
    if current.get("started_at") != job.get("started_at"):
        return None, "The job was started again since the scan."
    return current, None
