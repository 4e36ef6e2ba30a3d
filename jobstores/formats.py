"""How other job systems keep their running jobs in Redis, read into the seed's stale-job
shape: RQ (2.x and later) and Celery's Redis transport (kombu).

RQ: each queue's StartedJobRegistry is a sorted set `rq:wip:<queue>` whose members are
`<job id>:<execution id>` (bare `<job id>` before RQ 2), scored by when the worker's lease
runs out (now + timeout, pushed on by every heartbeat; +inf for no timeout). The job is the
hash `rq:job:<id>` (status "started", started_at "2026-12-02T14:09:01.491398Z", description,
origin = the queue, meta serialized by the queue's serializer: pickle by default, which
Vigil never unpickles).

Celery: kombu keeps every message a worker took and has not acknowledged in the hash
`unacked` (delivery tag → JSON [message, exchange, routing key]) and when it took it in the
sorted set `unacked_index`; after the visibility timeout kombu hands the message out again.
"""

import base64
import math
import pickletools
import zlib
from datetime import UTC, datetime, timedelta

import orjson
import redis
from redis.crc import key_slot

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
RQ_FAILURE_TTL = 31536000  # rq.defaults.DEFAULT_FAILURE_TTL: a year in the failed registry
RQ_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # rq.utils.utcformat
RQ_META_BYTES = 65536  # a larger meta is not read for its user_id
CELERY_HASH = "unacked"


def text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def parse_time(value) -> datetime | None:
    """An ISO 8601 time as a platform wrote it; naive means UTC (the seed's utcnow())."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def stale_job(job_id, user_id, message, started_at, age, key) -> dict:
    """The seed's fields, and the key a kill needs."""
    if not isinstance(message, str):
        message = "" if message is None else text(message)
    return {
        "job_id": job_id,
        "user_id": user_id,
        "message": message[:MESSAGE_CHARS],
        "started_at": started_at,
        "age_seconds": age,
        "key": key,
    }


# --- RQ ----------------------------------------------------------------------------------


def _registry_pattern(pattern: str) -> str:
    return pattern if pattern.startswith("rq:") else "rq:wip:*"


def scan_rq(node, *, result, pattern, max_age, now, count, reporter, conn, **_):
    """Every started-job registry on this node, and the job hashes its members name (read
    through the routing client: in a cluster a job's hash lives on any node)."""
    counts = result.counts
    match = _registry_pattern(pattern)
    cutoff = now - timedelta(seconds=max_age)
    for registry in node.scan_iter(match=match, count=count):
        try:
            entries = list(node.zscan_iter(registry, count=count))
        except redis.ResponseError:
            counts["wrong_type"] += 1
            result.keys_scanned += 1
            continue
        leases: dict[str, float] = {}
        for member, score in entries:
            job_id = text(member).split(":", 1)[0]
            leases[job_id] = max(score, leases.get(job_id, -math.inf))
        ids = list(leases)
        for start in range(0, len(ids), count):
            chunk = ids[start : start + count]
            _read_rq_jobs(conn.client, chunk, leases, result, cutoff, now)
            result.keys_scanned += len(chunk)
            reporter.tick()


_RQ_FIELDS = ("status", "started_at", "description", "origin")


def _read_rq_jobs(client, ids, leases, result, cutoff, now):
    counts = result.counts
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(f"rq:job:{job_id}", *_RQ_FIELDS)
    answers = pipe.execute(raise_on_error=False)
    found = []
    for job_id, answer in zip(ids, answers, strict=True):
        if isinstance(answer, redis.ResponseError):
            counts["wrong_type"] += 1
            continue
        if isinstance(answer, Exception):
            raise answer
        status, started_raw, description, _origin = answer
        if all(v is None for v in answer):
            counts["vanished"] += 1
            continue
        if text(status) != "started":
            counts["other_status"] += 1
            continue
        if not started_raw:
            counts["missing_fields"] += 1
            continue
        started_at = parse_time(started_raw)
        if started_at is None:
            counts["bad_time"] += 1
            continue
        lease = leases[job_id]
        if started_at < cutoff or lease < now.timestamp():
            counts["stale"] += 1
            found.append((job_id, text(started_raw), description, started_at))
        else:
            counts["processing"] += 1
    users = _rq_users(client, [job_id for job_id, *_ in found])
    for job_id, started_raw, description, started_at in found:
        result.stale_jobs.append(
            stale_job(
                job_id,
                users.get(job_id),
                text(description),
                started_raw,
                (now - started_at).total_seconds(),
                f"rq:job:{job_id}",
            )
        )


def _rq_users(client, ids) -> dict:
    """user_id from each stale job's meta, when it is small and readable without running
    anything: JSON (RQ's JSONSerializer) or a plain pickled dict read as data."""
    if not ids:
        return {}
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hstrlen(f"rq:job:{job_id}", "meta")
    sizes = pipe.execute(raise_on_error=False)
    readable = [
        i for i, n in zip(ids, sizes, strict=True) if isinstance(n, int) and 0 < n <= RQ_META_BYTES
    ]
    pipe = client.pipeline(transaction=False)
    for job_id in readable:
        pipe.hget(f"rq:job:{job_id}", "meta")
    users = {}
    for job_id, raw in zip(readable, pipe.execute(raise_on_error=False), strict=True):
        if isinstance(raw, bytes):
            users[job_id] = meta_user_id(raw)
    return users


def meta_user_id(raw: bytes):
    if raw[:1] == b"\x80":
        return _pickled_user_id(raw)
    try:
        meta = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    value = meta.get("user_id") if isinstance(meta, dict) else None
    return value if isinstance(value, str | int) else None


_MEMO = {"MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "FRAME", "PROTO"}


def _pickled_user_id(raw: bytes):
    """The value after a "user_id" key in a pickle, read from its opcodes (nothing runs)."""
    try:
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(raw) if op.name not in _MEMO]
    except Exception:  # noqa: BLE001 (a broken pickle has no user id)
        return None
    for (_, arg), (name, value) in zip(ops, ops[1:], strict=False):
        if arg == "user_id" and ("UNICODE" in name or "INT" in name) and value is not None:
            return value
    return None


# Checked and written in one step on the job's hash: still started, since the same time.
# KEYS: job hash, started registry, failed registry (or only the hash, in a cluster).
# ARGV: started_at, ended_at, exc_info (zlib, as RQ stores it), job id, its ZSCAN pattern,
# now, RQ's default failure TTL (the failed registry scores expiry = now + failure_ttl).
_RQ_KILL = """
local state = redis.call('HMGET', KEYS[1], 'status', 'started_at', 'failure_ttl')
if not state[1] then return 'gone' end
if state[1] ~= 'started' then return 'status:' .. state[1] end
if state[2] ~= ARGV[1] then return 'restarted' end
redis.call('HSET', KEYS[1], 'status', 'failed', 'ended_at', ARGV[2], 'exc_info', ARGV[3])
local ttl = tonumber(state[3]) or tonumber(ARGV[7])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
if #KEYS == 3 then
  local cursor = '0'
  repeat
    local page = redis.call('ZSCAN', KEYS[2], cursor, 'MATCH', ARGV[5])
    cursor = page[1]
    for i = 1, #page[2], 2 do redis.call('ZREM', KEYS[2], page[2][i]) end
  until cursor == '0'
  redis.call('ZREM', KEYS[2], ARGV[4])
  local score = '+inf'
  if ttl > 0 then score = tostring(tonumber(ARGV[6]) + ttl) end
  redis.call('ZADD', KEYS[3], score, ARGV[4])
end
return 'ok'
"""


def _glob_escape(value: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in value)


def kill_rq(conn, job, max_age, now, on_checked=None) -> str | None:
    """As RQ fails an abandoned job: status failed (with exc_info, ended_at and the failure
    TTL), out of the started registry, into the failed one, all in one script. In a cluster
    the hash and registries sit in different slots: the hash is changed by the script, then
    the registries are moved."""
    job_id = str(job["job_id"])
    key = job.get("key") or f"rq:job:{job_id}"
    client = conn.client
    origin = text(client.hget(key, "origin")) or "default"
    wip, failed = f"rq:wip:{origin}", f"rq:failed:{origin}"
    if on_checked:
        on_checked(job)
    exc_info = zlib.compress(f"Killed by Vigil: Processing timeout ({max_age}s)".encode())
    args = [
        job.get("started_at") or "",
        now.strftime(RQ_TIME),
        exc_info,
        job_id,
        _glob_escape(job_id) + ":*",
        f"{now.timestamp():.6f}",
        RQ_FAILURE_TTL,
    ]
    together = not getattr(conn, "cluster", False) or (
        key_slot(key.encode()) == key_slot(wip.encode()) == key_slot(failed.encode())
    )
    keys = [key, wip, failed] if together else [key]
    answer = text(client.eval(_RQ_KILL, len(keys), *keys, *args))
    if answer == "gone":
        return "The job is gone."
    if answer.startswith("status:"):
        return f"The job is no longer started (now {answer.removeprefix('status:')!r})."
    if answer == "restarted":
        return "The job was started again since the scan."
    if not together:
        members = [m for m, _ in client.zscan_iter(wip, match=args[4])]
        if members:
            client.zrem(wip, *members)
        client.zrem(wip, job_id)
        client.zadd(failed, {job_id: now.timestamp() + RQ_FAILURE_TTL})
    return None


# --- Celery ------------------------------------------------------------------------------

# Per delivery tag: the message, 0 (no longer unacknowledged) or -2 (over ARGV[1] bytes).
_CELERY_READ = """
local limit = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local n = redis.call('HSTRLEN', KEYS[1], ARGV[i])
  if n > limit then out[i - 1] = -2
  else out[i - 1] = redis.call('HGET', KEYS[1], ARGV[i]) or 0 end
end
return out
"""


def _celery_keys(pattern: str) -> tuple[str, str]:
    name = pattern if pattern and "*" not in pattern and pattern != "job:*" else CELERY_HASH
    return name, f"{name}_index"


def scan_celery(conn, *, result, pattern, max_age, now, visibility_timeout, count, max_bytes,
                reporter, **_):  # fmt: skip
    """A message held unacknowledged longer than the smaller of the stale age and the
    visibility timeout is stale: past the first the job runs too long, past the second kombu
    has handed it to another worker too. Only stale messages are fetched."""
    client = conn.client
    counts = result.counts
    unacked, index = _celery_keys(pattern)
    limit = min(max_age, visibility_timeout)
    cutoff = now.timestamp() - limit
    for name, kind in ((unacked, b"hash"), (index, b"zset")):
        found = client.type(name)
        if found not in (kind, b"none"):
            counts["wrong_type"] += 1
            result.errors.append(f"{name} is a {text(found)}, not Celery's {text(kind)}.")
            return
    batch: list[tuple[bytes, float]] = []
    for entry in client.zscan_iter(index, count=count):
        batch.append(entry)
        if len(batch) >= count:
            _celery_batch(client, unacked, batch, cutoff, now, max_bytes, result)
            reporter.tick()
            batch = []
    if batch:
        _celery_batch(client, unacked, batch, cutoff, now, max_bytes, result)


def _celery_batch(client, unacked, batch, cutoff, now, max_bytes, result):
    counts = result.counts
    result.keys_scanned += len(batch)
    stale = [(tag, score) for tag, score in batch if score < cutoff]
    counts["processing"] += len(batch) - len(stale)
    if not stale:
        return
    values = client.eval(_CELERY_READ, 1, unacked, max_bytes, *[tag for tag, _ in stale])
    for (tag, score), value in zip(stale, values, strict=True):
        if value == 0:
            counts["vanished"] += 1
            continue
        if value == -2:
            counts["too_large"] += 1
            continue
        task_id, name, why = _celery_task(value)
        if why:
            counts[why] += 1
            continue
        counts["stale"] += 1
        taken = datetime.fromtimestamp(score, UTC)
        result.stale_jobs.append(
            stale_job(
                task_id,
                None,
                name,
                taken.isoformat(),
                (now - taken).total_seconds(),
                f"{unacked}#{text(tag)}",
            )  # fmt: skip
        )


def _celery_task(raw: bytes) -> tuple[str | None, str, str | None]:
    """(task id, "task(argsrepr)", None) or (None, "", the outcome that explains why not)."""
    try:
        message = orjson.loads(raw)[0]
    except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
        return None, "", "not_json"
    if not isinstance(message, dict):
        return None, "", "missing_fields"
    headers = message.get("headers") or {}
    task_id, task, args = headers.get("id"), headers.get("task"), headers.get("argsrepr")
    if not task_id and message.get("properties", {}).get("body_encoding") == "base64":
        # Celery's message protocol 1 carries id, task and args in the body.
        try:
            body = orjson.loads(base64.b64decode(message.get("body") or ""))
            task_id, task, args = body.get("id"), body.get("task"), repr(tuple(body["args"]))
        except (ValueError, TypeError, AttributeError, KeyError, orjson.JSONDecodeError):
            pass
    if not task_id or not isinstance(task_id, str):
        return None, "", "missing_fields"
    return task_id, f"{text(task)}{text(args)}", None
