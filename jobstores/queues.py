"""Queue depths and feature flags in an agent platform's Redis: the seed's `LLEN
queue:priority:1` for every queue, its "queue depth > 1000 for 15 min" alert, and its
"Disable Feature" action as a compare-and-set that keeps the flag's form and TTL.

`nodes` is one redis.Redis per primary (one item for a standalone Redis) to SCAN; `client` is
the store's redis.Redis or RedisCluster, which routes each key to its slot."""

import contextlib
import dataclasses
import itertools
import json
import re
from datetime import datetime, timedelta

# Keys per pipeline round trip.
BATCH = 500
# The longest flag value Vigil reads; a flag is a word or a small JSON object.
FLAG_MAX_BYTES = 65_536

# Each word that turns a flag on, with the word that turns it off (lower case).
ON_OFF = {"true": "false", "1": "0", "on": "off", "yes": "no", "enabled": "disabled"}
OFF = set(ON_OFF.values())


@dataclasses.dataclass
class QueueReading:
    depths: dict[str, int]
    # Keys the pattern matched that are not queues, with why: {"queue:priority:x": "a hash"}.
    skipped: dict[str, str]


@dataclasses.dataclass
class FlagReading:
    values: dict[str, str]
    skipped: dict[str, str]


def queue_depths(nodes, pattern: str = "queue:priority:*", *, count: int = 1000) -> dict[str, int]:
    """LLEN of every list key matching `pattern` on every node."""
    return read_queues(nodes, pattern, count=count).depths


def read_queues(nodes, pattern: str = "queue:priority:*", *, count: int = 1000) -> QueueReading:
    """queue_depths with the matching keys that are not lists, and why they were skipped."""
    depths, skipped = {}, {}
    for node, keys in _scan(nodes, pattern, count, skipped):
        for batch in _batches(keys):
            with node.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.type(key)
                    pipe.llen(key)
                replies = pipe.execute(raise_on_error=False)
            for key, kind, depth in zip(batch, replies[::2], replies[1::2], strict=True):
                name = key.decode()
                kind = _kind(kind)
                if kind == "none":
                    continue  # gone since the SCAN: an emptied list is deleted by Redis
                if kind != "list" or isinstance(depth, Exception):
                    skipped[name] = _why(kind, "list", depth)
                    continue
                depths[name] = depth
    return QueueReading(dict(sorted(depths.items())), skipped)


def read_flags(nodes, client, pattern: str = "flag:*", *, count: int = 1000) -> dict[str, str]:
    """The value of every string key matching `pattern`, decoded as UTF-8 (bad bytes
    replaced); hashes and other types are skipped."""
    return read_flag_values(nodes, client, pattern, count=count).values


def read_flag_values(
    nodes, client, pattern: str = "flag:*", *, count: int = 1000, max_bytes: int = FLAG_MAX_BYTES
) -> FlagReading:
    """read_flags with the keys skipped and why (another type, longer than max_bytes)."""
    values, skipped = {}, {}
    keys = [key for _, node_keys in _scan(nodes, pattern, count, skipped) for key in node_keys]
    for batch in _batches(keys):
        with client.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.type(key)
                pipe.strlen(key)
                pipe.getrange(key, 0, max_bytes - 1)
            replies = pipe.execute(raise_on_error=False)
        for i, key in enumerate(batch):
            kind, size, value = replies[3 * i : 3 * i + 3]
            name = key.decode()
            kind = _kind(kind)
            if kind == "none":
                continue
            if kind != "string" or isinstance(value, Exception):
                skipped[name] = _why(kind, "string", value)
            elif isinstance(size, int) and size > max_bytes:
                skipped[name] = f"longer than {max_bytes:,} bytes"
            else:
                values[name] = value.decode("utf-8", "replace")
    return FlagReading(dict(sorted(values.items())), skipped)


def _scan(nodes, pattern: str, count: int, skipped: dict):
    """(node, its matching keys) for each node; keys whose names are not UTF-8 are skipped,
    as Vigil could neither show nor write them back."""
    for node in nodes:
        keys = set()
        for key in node.scan_iter(match=pattern, count=count):
            try:
                key.decode()
            except UnicodeDecodeError:
                skipped[key.decode("utf-8", "replace")] = "its name is not UTF-8"
                continue
            keys.add(key)
        yield node, sorted(keys)


def _batches(keys: list) -> list[list]:
    return [keys[i : i + BATCH] for i in range(0, len(keys), BATCH)]


def _kind(reply) -> str:
    if isinstance(reply, Exception):
        return "unreadable"
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _why(kind: str, wanted: str, reply) -> str:
    if kind in (wanted, "unreadable") and isinstance(reply, Exception):
        return f"Redis refused to read it: {reply}"
    return f"a {kind}"


# --- turning a flag off ----------------------------------------------------------------


def flag_off_value(value: str) -> str:
    """The value that turns this flag off, in the form it has: "True" → "False", "on" →
    "off", {"enabled": true, ...} → {"enabled": false, ...}. A value already off is its own
    off value. ValueError when Vigil cannot tell."""
    core = value.strip()
    lead, trail = value[: len(value) - len(value.lstrip())], value[len(value.rstrip()) :]
    word = core.lower()
    if word in ON_OFF or word in OFF:
        off = ON_OFF.get(word, word)
        return lead + _same_case(core, off) + trail
    try:
        parsed = json.loads(core)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, str) and parsed.strip().lower() in ON_OFF.keys() | OFF:
        return lead + json.dumps(flag_off_value(parsed), ensure_ascii=False) + trail
    if isinstance(parsed, dict) and "enabled" in parsed:
        enabled = parsed["enabled"]
        if enabled is False:
            return value
        if enabled is True:
            return lead + _json_with(core, parsed, "true", "false") + trail
        if isinstance(enabled, str) and enabled.strip().lower() in ON_OFF.keys() | OFF:
            off = flag_off_value(enabled)
            return lead + _json_with(core, parsed, json.dumps(enabled), json.dumps(off)) + trail
    shown = value if len(value) <= 60 else value[:60] + "…"
    raise ValueError(
        f"Vigil cannot tell what 'off' is for this flag's value ({shown!r}): it knows "
        'true/false, 1/0, on/off, yes/no, enabled/disabled and JSON with "enabled"; set '
        "it by hand."
    )


def _same_case(original: str, word: str) -> str:
    if original.isupper() and len(original) > 1:
        return word.upper()
    if original[:1].isupper():
        return word.capitalize()
    return word


def _json_with(text: str, parsed: dict, old: str, new: str) -> str:
    """The JSON object with its top-level "enabled" set to `new`: the text edited in place
    where that gives exactly it, so spacing and key order stay; else written anew."""
    wanted = {**parsed, "enabled": json.loads(new)}
    for match in re.finditer(r'"enabled"\s*:\s*' + re.escape(old), text):
        edited = text[: match.end() - len(old)] + new + text[match.end() :]
        with contextlib.suppress(ValueError, RecursionError):
            if json.loads(edited) == wanted:
                return edited
    compact = ": " not in text and ", " not in text
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(wanted, ensure_ascii=False, separators=separators)


# Set KEYS[1] to ARGV[2] only while it still holds ARGV[1], keeping its TTL.
_COMPARE_AND_SET = """
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"""


def set_flag_if(client, key: str, expected: str, new: str) -> bool:
    """Atomically set the flag to `new` if it still holds `expected`, keeping its TTL. False
    when it changed meanwhile (or is gone): nothing was written. A value read with bad UTF-8
    bytes never matches, so Vigil never overwrites what it could not read exactly."""
    return bool(client.eval(_COMPARE_AND_SET, 1, key, expected, new))


# --- the depth alert -------------------------------------------------------------------

# A reading missing for longer than this means Vigil cannot say the queue stayed over.
MAX_GAP = timedelta(minutes=5)


def depth_breached(
    samples: list[tuple[datetime, int]],
    *,
    threshold: int,
    minutes: int,
    now: datetime,
    max_gap: timedelta = MAX_GAP,
) -> bool:
    """The seed's alert, queue depth > threshold for `minutes`: True when the samples cover
    the whole window (one at or before its start, none further apart than `max_gap`, the
    last within `max_gap` of now) and every one of them from that first on is over."""
    start = now - timedelta(minutes=minutes)
    ordered = sorted((at, depth) for at, depth in samples if at <= now)
    anchor = None
    for i, (at, _) in enumerate(ordered):
        if at <= start:
            anchor = i
    if anchor is None:
        return False
    window = ordered[anchor:]
    if any(depth <= threshold for _, depth in window):
        return False
    times = [at for at, _ in window] + [now]
    return all(later - earlier <= max_gap for earlier, later in itertools.pairwise(times))
