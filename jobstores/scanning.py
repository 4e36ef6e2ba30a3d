"""The source document's find_stale_jobs and kill_stale_jobs, made fast and robust.

A scan walks the keys with SCAN and a COUNT hint (never KEYS) and reads each batch with one
read-only script call that returns every value, or a code for a key that vanished, holds
another type or is too large to fetch. Every value is counted by outcome; nothing in the
data stops a scan. Batches stay small, so the platform's own commands wait at most a
millisecond or so behind one.

Formats: the seed's JSON jobs (`job:<id>` strings), RQ's started-job registries
(`rq:wip:<queue>` with `rq:job:<id>` hashes) and Celery's Redis transport (the `unacked`
hash and its `unacked_index`).
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import redis
from redis.crc import key_slot

from jobstores.redisconn import reason

OUTCOMES = (
    "stale",
    "processing",
    "other_status",
    "not_json",
    "wrong_type",
    "missing_fields",
    "bad_time",
    "vanished",
    "too_large",
)
MESSAGE_CHARS = 100  # the seed's job["message"][:100]
KILL_EXPIRY = 3600  # the seed's ex=3600
PROGRESS_EVERY = 0.25

# Per key: the value, 0 (vanished), -1 (another type) or -2 (over ARGV[1] bytes).
_READ = """
local out = {}
local limit = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'string' then
    if redis.call('STRLEN', key) > limit then out[i] = -2 else out[i] = redis.call('GET', key) end
  elseif kind == 'none' then out[i] = 0
  else out[i] = -1 end
end
return out
"""


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


def _now(now) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def parse_time(value) -> datetime | None:
    """An ISO 8601 time as the platform wrote it; naive means UTC (the seed's utcnow())."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _stale(job_id, user_id, message, started_at, age, key, **extra) -> dict:
    return {
        "job_id": job_id,
        "user_id": user_id,
        "message": _text(message)[:MESSAGE_CHARS],
        "started_at": started_at,
        "age_seconds": age,
        "key": key,
        **extra,
    }


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
    count: int = 1000,
    max_value_bytes: int = 1_048_576,
) -> ScanResult:
    started = time.perf_counter()
    now = _now(now)
    result = ScanResult()
    for node in conn.nodes:
        try:
            result.dbsize += node.dbsize()
        except redis.RedisError as exc:
            result.errors.append(reason(exc, _label(node), _timeout(node)))
    reporter = _Progress(progress, result)
    cluster = len(conn.nodes) > 1 or conn.client is not conn.nodes[0]
    reader = {"json": _scan_json, "rq": _scan_rq, "celery": _scan_celery}[fmt]
    for node in conn.nodes:
        try:
            reader(
                node,
                result=result,
                pattern=pattern,
                max_age=max_age_seconds,
                now=now,
                visibility_timeout=visibility_timeout,
                count=count,
                max_bytes=max_value_bytes,
                cluster=cluster,
                reporter=reporter,
            )
        except redis.RedisError as exc:
            result.errors.append(reason(exc, _label(node), _timeout(node)))
    result.stale_jobs.sort(key=lambda job: -(job["age_seconds"] or 0))
    result.duration_seconds = time.perf_counter() - started
    result.keys_per_second = result.keys_scanned / max(result.duration_seconds, 1e-9)
    reporter.done()
    return result


class _Progress:
    def __init__(self, callback, result):
        self.callback, self.result, self.last = callback, result, 0.0

    def tick(self):
        if self.callback and time.monotonic() - self.last >= PROGRESS_EVERY:
            self.last = time.monotonic()
            self.callback(self.result.keys_scanned, self.result.dbsize)

    def done(self):
        if self.callback:
            self.callback(self.result.keys_scanned, self.result.dbsize)


def _label(node) -> str:
    kwargs = node.connection_pool.connection_kwargs
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def _timeout(node) -> float:
    return node.connection_pool.connection_kwargs.get("socket_timeout") or 5.0


def _batches(node, pattern, count):
    cursor = 0
    while True:
        cursor, keys = node.scan(cursor, match=pattern, count=count)
        yield keys
        if cursor == 0:
            return


def _read_values(node, keys, max_bytes, cluster, script):
    if not keys:
        return []
    if not cluster:
        return script(keys=keys, args=[max_bytes], client=node)
    # A cluster node refuses a script over keys of several slots: one call per slot.
    by_slot = {}
    for i, key in enumerate(keys):
        by_slot.setdefault(key_slot(key), []).append(i)
    pipe = node.pipeline(transaction=False)
    groups = list(by_slot.values())
    for group in groups:
        script(keys=[keys[i] for i in group], args=[max_bytes], client=pipe)
    values = [None] * len(keys)
    for group, answer in zip(groups, pipe.execute(), strict=True):
        for i, value in zip(group, answer, strict=True):
            values[i] = value
    return values


def _scan_json(node, *, result, pattern, max_age, now, count, max_bytes, cluster, reporter, **_):
    counts = result.counts
    script = node.register_script(_READ)
    cutoff = now - timedelta(seconds=max_age)
    loads = orjson.loads
    for keys in _batches(node, pattern, count):
        values = _read_values(node, keys, max_bytes, cluster, script)
        for key, value in zip(keys, values, strict=True):
            if isinstance(value, int):
                counts[
                    "vanished" if value == 0 else "wrong_type" if value == -1 else "too_large"
                ] += 1
                continue
            if b'"processing"' not in value:
                # Not processing: still told apart, so broken values are counted.
                try:
                    job = loads(value)
                except orjson.JSONDecodeError:
                    counts["not_json"] += 1
                    continue
                if not isinstance(job, dict) or "status" not in job:
                    counts["missing_fields"] += 1
                else:
                    counts["other_status"] += 1
                continue
            try:
                job = loads(value)
            except orjson.JSONDecodeError:
                counts["not_json"] += 1
                continue
            if not isinstance(job, dict) or "job_id" not in job or "started_at" not in job:
                counts["missing_fields"] += 1
                continue
            if job.get("status") != "processing":
                counts["other_status"] += 1
                continue
            started_at = parse_time(job["started_at"])
            if started_at is None:
                counts["bad_time"] += 1
                continue
            if started_at < cutoff:
                counts["stale"] += 1
                message = job.get("message")
                result.stale_jobs.append(
                    _stale(
                        job["job_id"],
                        job.get("user_id"),
                        message if isinstance(message, str) else _text(message),
                        job["started_at"],
                        (now - started_at).total_seconds(),
                        _text(key),
                    )
                )
            else:
                counts["processing"] += 1
        result.keys_scanned += len(keys)
        reporter.tick()


def _scan_rq(node, *, result, pattern, max_age, now, count, cluster, reporter, **_):
    """RQ: every started-job registry (`rq:wip:<queue>`, members `<job id>` or, since RQ 2,
    `<job id>:<execution id>`) and the job hashes its members name."""
    counts = result.counts
    cutoff = now - timedelta(seconds=max_age)
    registry_pattern = pattern if pattern.startswith("rq:wip:") else "rq:wip:*"
    for keys in _batches(node, registry_pattern, count):
        for registry in keys:
            queue = _text(registry).removeprefix("rq:wip:")
            try:
                members = node.zrange(registry, 0, -1)
            except redis.ResponseError:
                counts["wrong_type"] += 1
                continue
            ids = [_text(m).split(":", 1)[0] for m in members]
            pipe = node.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(f"rq:job:{job_id}", "status", "started_at", "description", "origin")
            answers = pipe.execute(raise_on_error=False) if ids else []
            for job_id, member, answer in zip(ids, members, answers, strict=True):
                result.keys_scanned += 1
                if isinstance(answer, Exception):
                    counts["wrong_type"] += 1
                    continue
                status, started_raw, description, _origin = answer
                if status is None and started_raw is None:
                    counts["vanished"] += 1
                    continue
                if _text(status) != "started":
                    counts["other_status"] += 1
                    continue
                started_at = parse_time(_text(started_raw).replace("Z", "+00:00"))
                if started_at is None:
                    counts["bad_time"] += 1
                    continue
                if started_at < cutoff:
                    counts["stale"] += 1
                    result.stale_jobs.append(
                        _stale(
                            job_id,
                            None,
                            description,
                            _text(started_raw),
                            (now - started_at).total_seconds(),
                            f"rq:job:{job_id}",
                            queue=queue,
                            member=_text(member),
                        )
                    )
                else:
                    counts["processing"] += 1
            reporter.tick()


def _scan_celery(node, *, result, max_age, now, visibility_timeout, reporter, **_):
    """Celery's Redis transport keeps each message a worker took, until it is acknowledged,
    in the `unacked` hash, and when it was taken in `unacked_index`. Held longer than the
    stale age (or the visibility timeout, after which kombu hands it out again): stale."""
    counts = result.counts
    limit = min(max_age, visibility_timeout)
    cursor = 0
    while True:
        cursor, entries = node.hscan("unacked", cursor, count=500)
        tags = list(entries)
        taken = node.zmscore("unacked_index", tags) if tags else []
        for tag, score in zip(tags, taken, strict=True):
            result.keys_scanned += 1
            try:
                message = orjson.loads(entries[tag])[0]
                headers = message.get("headers") or {}
                task_id, task = headers.get("id"), headers.get("task")
            except (orjson.JSONDecodeError, IndexError, TypeError, AttributeError, KeyError):
                counts["not_json"] += 1
                continue
            if not task_id or score is None:
                counts["missing_fields"] += 1
                continue
            started_at = datetime.fromtimestamp(score, UTC)
            age = (now - started_at).total_seconds()
            if age > limit:
                counts["stale"] += 1
                result.stale_jobs.append(
                    _stale(
                        task_id,
                        None,
                        f"{task}{headers.get('argsrepr') or ''}",
                        started_at.isoformat(),
                        age,
                        "unacked",
                        delivery_tag=_text(tag),
                    )
                )
            else:
                counts["processing"] += 1
        reporter.tick()
        if cursor == 0:
            return


# --- the kill --------------------------------------------------------------------------


def kill_stale_jobs(
    conn, *, jobs: list, max_age_seconds: int, now: datetime | None = None, fmt: str = "json"
) -> KillResult:
    """Mark each job failed, the seed's way, only if it is still the stale job the scan saw:
    checked and written in one WATCH/MULTI transaction per job."""
    now = _now(now)
    result = KillResult()
    if fmt == "celery":
        result.skipped = [
            {
                "job_id": job["job_id"],
                "reason": "Celery messages are not killed from Vigil: "
                "revoke the task (celery control revoke --terminate).",
            }
            for job in jobs
        ]
        return result
    killer = _kill_rq if fmt == "rq" else _kill_json
    for job in jobs:
        try:
            outcome = killer(_client_for(conn, job), job, max_age_seconds, now)
        except redis.RedisError as exc:
            result.errors.append(f"{job['job_id']}: {reason(exc, conn.label, 5.0)}")
            continue
        if outcome is None:
            result.killed.append(job["job_id"])
        else:
            result.skipped.append({"job_id": job["job_id"], "reason": outcome})
    return result


def _client_for(conn, job):
    """The connection that holds the job's key (a cluster's WATCH works on one node)."""
    if conn.client is conn.nodes[0] and len(conn.nodes) == 1:
        return conn.client
    key = job.get("key") or f"job:{job['job_id']}"
    return conn.client.get_redis_connection(conn.client.get_node_from_key(key))


def _kill_json(client, job, max_age, now) -> str | None:
    key = job.get("key") or f"job:{job['job_id']}"
    with client.pipeline() as pipe:
        for _ in range(5):
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                if raw is None:
                    return "The job is gone."
                try:
                    current = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    return "The job's value is no longer JSON."
                if not isinstance(current, dict):
                    return "The job's value is no longer a JSON object."
                if current.get("status") != "processing":
                    return f"The job is no longer processing ({_text(current.get('status'))})."
                if current.get("started_at") != job.get("started_at"):
                    return "The job was started again since the scan."
                current["status"] = "failed"
                current["error"] = f"Killed: Processing timeout ({max_age}s)"
                current["failed_at"] = now.replace(tzinfo=None).isoformat()
                pipe.multi()
                pipe.set(key, orjson.dumps(current), ex=KILL_EXPIRY)
                pipe.execute()
                return None
            except redis.WatchError:
                continue
    return "The job kept changing; left alone."


def _kill_rq(client, job, max_age, now) -> str | None:
    """As RQ fails a job: status failed, out of the started registry, into the failed one."""
    key = job["key"]
    queue = job.get("queue") or "default"
    with client.pipeline() as pipe:
        for _ in range(5):
            try:
                pipe.watch(key)
                status, started = pipe.hmget(key, "status", "started_at")
                if _text(status) != "started":
                    return f"The job is no longer started ({_text(status) or 'gone'})."
                if _text(started) != job.get("started_at"):
                    return "The job was started again since the scan."
                pipe.multi()
                pipe.hset(
                    key,
                    mapping={
                        "status": "failed",
                        "ended_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "exc_info": f"Killed: Processing timeout ({max_age}s)",
                    },
                )
                pipe.zrem(f"rq:wip:{queue}", job.get("member") or job["job_id"])
                pipe.zadd(f"rq:failed:{queue}", {job["job_id"]: now.timestamp() + 31536000})
                pipe.execute()
                return None
            except redis.WatchError:
                continue
    return "The job kept changing; left alone."
