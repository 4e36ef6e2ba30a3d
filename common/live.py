"""The live layer: pages subscribe to topics, writers announce changes, and on PostgreSQL one
LISTEN connection per web process wakes that process's streams.

A topic names what changed, never the change itself: "incident:42" (its timeline and the
panels its events change), "user:7" (a person's notifications), "access:user:7" and
"access:incident:42" (who may see what), "incidents" (the list of incidents), "scan:9" (a
job-store scan's progress). A writer calls `publish(topic)` inside the transaction that
writes the row; PostgreSQL delivers the notification at commit, so a notification never
announces a row that is not there and a rolled-back write announces nothing (and one
transaction's repeats of a topic arrive once).

Streams read what they send from the database by position (a timeline seq, a state), so a
lost or coalesced notification loses nothing. What catches one that was lost is the safety
poll: one query per topic kind for the whole process every SAFETY_POLL_SECONDS (the kind's
`versions` function, registered by its app), not one per viewer. A web process that loses
its LISTEN connection reconnects with backoff and meanwhile runs that same poll every
FALLBACK_POLL_SECONDS; /health and a log line say so.

One stream per browser tab carries every channel the tab needs (the incident and the bell on
one connection): a `Channel` is one source of messages with its topics; `stream()` runs a
tab's channels, on the hub where the database is PostgreSQL and by polling each channel
(common.sse.polling) on the embedded SQLite default. The backend makes the choice; the
LIVE_TRANSPORT setting exists to force polling (a benchmark's baseline).
"""

import abc
import asyncio
import contextlib
import random
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable

import psycopg
import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.http import Http404, HttpResponse

from common import sse

CHANNEL = "vigil_live"
APPLICATION_NAME = "vigil-live"
SAFETY_POLL_SECONDS = 15.0
FALLBACK_POLL_SECONDS = 1.0
BACKOFF_SECONDS = (0.5, 1, 2, 5, 10, 30)
# A stream on the hub lives this long (±10%, so a crowd that connected together does not
# reconnect together), then the browser reconnects and resumes: its access is checked afresh.
LISTEN_LIFETIME_SECONDS = 3600

log = structlog.get_logger(__name__)

_VERSIONS: dict[str, Callable[[list[str]], dict[str, object]]] = {}
_PERSON_CHANNELS: list[Callable] = []
_CHANNELS: dict[str, Callable] = {}
_hubs_by_loop = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


# --- writers ---------------------------------------------------------------------------------


def publish(*topics: str) -> None:
    """Announce that what these topics name changed, at the commit of the current
    transaction (at once outside one). Nothing happens off PostgreSQL: streams poll there."""
    if connection.vendor != "postgresql" or not topics:
        return
    with connection.cursor() as cursor:
        for topic in dict.fromkeys(topics):
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, topic])


# --- what apps register ------------------------------------------------------------------------


def register_versions(kind: str, versions: Callable[[list[str]], dict[str, object]]) -> None:
    """How the safety poll reads the current version of many topics of one kind at once
    ("incident" for "incident:<id>"): a synchronous function from the ids (strings) to a
    value that changes whenever a stream of the topic has something new. One query."""
    _VERSIONS[kind] = versions


def register_person_channel(factory: Callable) -> None:
    """A channel every signed-in page carries, made by `factory(user)` (the bell)."""
    _PERSON_CHANNELS.append(factory)


def person_channels(user) -> list:
    return [factory(user) for factory in _PERSON_CHANNELS]


def register_channel(param: str, factory: Callable) -> None:
    """A topic a page may subscribe to with `?<param>=<id>` on the stream's URL (/live/):
    `factory(request, user, value)` (synchronous) checks the person's access, raising
    Http404 as the page itself would, and returns the Channel."""
    _CHANNELS[param] = factory


# --- channels ----------------------------------------------------------------------------------


class Channel(abc.ABC):
    """One source of a stream's messages. `topics` wake it on the hub; `poll()` (synchronous,
    run in a thread) returns what it has to send now ("" for nothing, None to end the stream)
    and is all the polling path uses, every `poll_seconds`; `read(changed)` is what the hub
    path awaits with the topics that woke it, by default `poll()` in a thread."""

    topics: frozenset[str] = frozenset()
    poll_seconds: float = 1.0

    @abc.abstractmethod
    def poll(self) -> str | None:
        """What the channel has to send now (every channel says what that is)."""

    async def read(self, changed: set[str]) -> str | None:
        return await run_released(self.poll)


def _released(function):
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            sse.release_connection()

    return run


async def run_released(function, *args, **kwargs):
    """Await a synchronous database read in a thread, in one of the process's stream slots
    (a crowd woken at once never takes the connections pages need), giving its connection
    back after."""
    async with sse.db_slot():
        return await sync_to_async(_released(function))(*args, **kwargs)


# --- the hub: one per web process (per event loop) ------------------------------------------


class Subscription:
    def __init__(self, topics: Iterable[str]):
        self.topics = frozenset(topics)
        self.changed: set[str] = set()
        self._event = asyncio.Event()

    def notify(self, topic: str) -> None:
        self.changed.add(topic)
        self._event.set()

    async def wait(self, timeout: float) -> set[str]:
        """The topics that changed since the last wait; empty when `timeout` passed first."""
        if not self.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        changed, self.changed = self.changed, set()
        self._event.clear()
        return changed


class Hub:
    """The process's LISTEN connection, its subscriptions and its safety poll."""

    def __init__(self):
        self._subscriptions: dict[str, set[Subscription]] = defaultdict(set)
        self._versions: dict[str, object] = {}
        self.state = "connecting"
        self.changed_at = time.time()
        self.last_error = ""
        self.reconnects = 0
        self.notifications = 0
        self._generations: dict[str, int] = defaultdict(int)
        self._feeds: dict[str, Feed] = {}
        self._open: set[Subscription] = set()
        self._tasks = [
            asyncio.create_task(self._listen(), name="vigil-live-listen"),
            asyncio.create_task(self._safety_poll(), name="vigil-live-poll"),
        ]

    # subscriptions
    def subscribe(self, topics: Iterable[str]) -> Subscription:
        subscription = Subscription(topics)
        self._open.add(subscription)
        for topic in subscription.topics:
            self._subscriptions[topic].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._open.discard(subscription)
        for topic in subscription.topics:
            subscribers = self._subscriptions.get(topic)
            if subscribers is None:
                continue
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[topic]
                self._versions.pop(topic, None)
                self._generations.pop(topic, None)
                self._feeds.pop(topic, None)

    def generation(self, topic: str) -> int:
        """How many times the topic was dispatched: a feed read since then is current."""
        return self._generations.get(topic, 0)

    def feed(self, topic: str, **kwargs) -> "Feed":
        """The process's shared feed of a topic (made on first use, dropped with its last
        subscriber)."""
        found = self._feeds.get(topic)
        if found is None:
            found = self._feeds[topic] = Feed(self, topic, **kwargs)
        return found

    def dispatch(self, topic: str) -> None:
        subscribers = self._subscriptions.get(topic)
        if not subscribers:  # a topic nobody watches in this process (most of them)
            return
        self._generations[topic] += 1
        for subscription in tuple(subscribers):
            subscription.notify(topic)

    def wake_all(self) -> None:
        for topic in tuple(self._subscriptions):
            self.dispatch(topic)

    @property
    def streams(self) -> int:
        return len(self._open)

    @property
    def idle(self) -> bool:
        return not self._open

    def _set_state(self, state: str, error: str = "") -> None:
        if state != self.state:
            self.state, self.changed_at = state, time.time()
        self.last_error = error

    # the LISTEN connection
    async def _listen(self) -> None:
        attempt = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    **_conninfo(), autocommit=True, application_name=APPLICATION_NAME
                )
            except Exception as exc:  # any driver error: the database is away
                attempt = await self._lost(exc, attempt)
                continue
            try:
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self.state != "connecting":
                        self.reconnects += 1
                    log.info("live.listening", reconnects=self.reconnects)
                    self._set_state("listening")
                    attempt = 0
                    # Whatever was written while nobody listened is read now, by position.
                    self.wake_all()
                    while True:
                        async for notify in conn.notifies(timeout=SAFETY_POLL_SECONDS):
                            self.notifications += 1
                            self.dispatch(notify.payload)
                        # Quiet for a while: prove the connection is still there.
                        await asyncio.wait_for(conn.execute("SELECT 1"), 5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a killed backend, a network cut, a restart
                attempt = await self._lost(exc, attempt)

    async def _lost(self, exc, attempt) -> int:
        delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
        error = f"{type(exc).__name__}: {exc}".strip()[:200]
        log.warning("live.listen_lost", error=error, retry_in_seconds=delay, fallback="polling")
        self._set_state("polling", error)
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
        return attempt + 1

    # the safety poll (and the fallback while the LISTEN connection is away)
    async def _safety_poll(self) -> None:
        # Looks at the state every second, so polling starts as soon as the LISTEN goes.
        last = time.monotonic()
        while True:
            await asyncio.sleep(FALLBACK_POLL_SECONDS)
            interval = SAFETY_POLL_SECONDS if self.state == "listening" else FALLBACK_POLL_SECONDS
            if time.monotonic() - last >= interval:
                last = time.monotonic()
                await self.poll_versions()

    async def poll_versions(self) -> None:
        by_kind = defaultdict(list)
        for topic in self._subscriptions:
            kind, _, key = topic.rpartition(":")
            if kind in _VERSIONS:
                by_kind[kind].append(key)
        if not by_kind:
            return
        try:
            versions = await run_released(_read_versions, dict(by_kind))
        except Exception as exc:  # the database itself is away: the next round tries again
            log.warning("live.safety_poll_failed", error=f"{type(exc).__name__}: {exc}"[:200])
            return
        for topic, version in versions.items():
            if topic in self._subscriptions and self._versions.get(topic, _UNSEEN) != version:
                self._versions[topic] = version
                self.dispatch(topic)

    def close(self) -> None:
        """Stop listening: the tasks are cancelled, and the LISTEN task closes its connection
        on its way out, in the loop (closing the socket under the loop's feet would let its
        file descriptor be reused by a client's socket while the loop still watches it)."""
        for task in self._tasks:
            task.cancel()
        log.info("live.closed", notifications=self.notifications, reconnects=self.reconnects)


_UNSEEN = object()


class Feed:
    """What the viewers of one topic in this process share: rows read from the database once
    per notification, not once per viewer, and their renderings once per rendering context.

    `read(after)` (synchronous, one query) returns the rows whose position is after `after`,
    at most `limit` of them, in position order; `position(row)` and `key(row)` say where a
    row stands and which thing it is (a changed timeline event comes again with a new
    position, and replaces its older version). The feed holds every row after `floor`, up to
    `keep` of them; a viewer further behind reads for itself, and the feed keeps what it read.
    """

    def __init__(self, hub, topic, *, read, position, key, limit, keep=500):
        self._hub, self.topic = hub, topic
        self._read, self._position, self._key = read, position, key
        self._limit, self._keep = limit, keep
        self._rows: dict[object, object] = {}
        self._renders: dict[tuple, str] = {}
        self.floor = None
        self.head = None
        self._read_generation = -1
        self._lock = asyncio.Lock()
        self.reads = 0

    def _read_all(self, after):
        """Every row after `after`, in pages of `limit` (a burst may be larger than one)."""
        rows = []
        for _ in range(50):
            page = self._read(after=after)
            rows.extend(page)
            if len(page) < self._limit:
                break
            after = self._position(page[-1])
        return rows

    async def since(self, position: int) -> list:
        async with self._lock:
            wanted = self._hub.generation(self.topic)
            if self.head is None or position < self.floor:
                start = position if self.head is None else min(position, self.floor)
                rows = await run_released(self._read_all, start)
                self.floor = start
                self._merge(rows, start)
            elif self._read_generation < wanted:
                rows = await run_released(self._read_all, self.head)
                self._merge(rows, self.head)
            self._read_generation = wanted
            return [row for row in self._rows.values() if self._position(row) > position]

    def _merge(self, rows, after) -> None:
        self.reads += 1
        for row in rows:
            self._rows[self._key(row)] = row  # a changed row replaces its older version
        self._rows = dict(sorted(self._rows.items(), key=lambda item: self._position(item[1])))
        last = self._position(rows[-1]) if rows else after
        self.head = max(self.head or 0, last, after)
        if len(self._rows) > self._keep:
            ordered = list(self._rows.items())
            dropped, kept = ordered[: -self._keep], ordered[-self._keep :]
            self._rows = dict(kept)
            self.floor = max(self.floor, self._position(dropped[-1][1]))
            live = {(self._key(r), self._position(r)) for r in self._rows.values()}
            self._renders = {k: v for k, v in self._renders.items() if k[:2] in live}

    def rendered(self, row, context: tuple, render: Callable[[], str]) -> str:
        """`render()` of this row for this rendering context, once per feed."""
        cache_key = (self._key(row), self._position(row), context)
        html = self._renders.get(cache_key)
        if html is None:
            html = self._renders[cache_key] = render()
        return html


def _read_versions(by_kind: dict[str, list[str]]) -> dict[str, object]:
    versions = {}
    for kind, keys in by_kind.items():
        for key, version in _VERSIONS[kind](keys).items():
            versions[f"{kind}:{key}"] = version
    return versions


def _conninfo() -> dict:
    """The LISTEN connection's parameters, from the default database's settings."""
    db = settings.DATABASES["default"]
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "connect_timeout": 5,
        # A silently dead peer is noticed in well under a minute.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    options = db.get("OPTIONS", {})
    for name in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
        if name in options:
            params[name] = options[name]
    return {k: v for k, v in params.items() if v is not None}


def hub() -> Hub:
    """This process's hub (one per event loop), started on first use."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        found = _hubs_by_loop.get(loop)
        if found is None:
            found = _hubs_by_loop[loop] = Hub()
    return found


def release(subscription) -> None:
    """A stream ended: the hub stops when it was the process's last (the next starts one)."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        found = _hubs_by_loop.get(loop)
        if found is None:
            return
        found.unsubscribe(subscription)
        if found.idle:
            del _hubs_by_loop[loop]
        else:
            return
    found.close()


def uses_hub() -> bool:
    """Streams wait on the hub where the database can LISTEN, unless polling is forced. A
    stream opened inside a transaction (a test's) polls: the writes it must see are in that
    same transaction, whose notifications are never delivered."""
    return (
        connection.vendor == "postgresql"
        and settings.LIVE_TRANSPORT != "poll"
        and not connection.in_atomic_block
    )


def health() -> dict:
    """What /health says about this process's live layer."""
    if not uses_hub():
        return {"mode": "polling", "detail": f"{connection.vendor}: every stream polls"}
    with _hubs_lock:
        hubs = [h for loop, h in _hubs_by_loop.items() if not loop.is_closed()]
    if not hubs:
        return {"mode": "idle", "detail": "no live stream open in this process"}
    hub_ = hubs[0]
    since = round(time.time() - hub_.changed_at, 1)
    body = {
        "mode": hub_.state,
        "streams": hub_.streams,
        "since_seconds": since,
        "reconnects": hub_.reconnects,
    }
    if hub_.state == "listening":
        body["detail"] = "LISTEN connection up; streams wait for notifications"
    else:
        body["detail"] = "LISTEN connection lost; polling every second while it reconnects"
        body["error"] = hub_.last_error
    return body


# --- a tab's stream ----------------------------------------------------------------------------


async def stream_response(request, wanted: dict[str, str], *, retry_ms=1000, comment=""):
    """The one stream of a tab: the channels it asked for (`wanted`: param → id, each checked
    by its factory) and the person's own (the bell). 404 for a channel nobody registered; the
    sign-in page for someone signed out.

    Opening a stream reads the database (the session, the person, their access), and a
    crowd opens together (a SEV1 announced, a deploy that dropped every stream): at most
    LIVE_STREAM_DB_SLOTS openings of a process read at once, each giving its connection back
    before the next one's turn. The connection the middleware took (the session, the
    person) is given back before waiting for a slot: holding it while waiting would let
    waiting openings take the whole pool from the streams in their slots.

    A WSGI server (a test's live_server) cannot stream: its answer is 204, which tells the
    browser's EventSource to stop asking, and the page works without live updates."""
    await sync_to_async(sse.release_connection)()
    async with sse.db_slot():
        user = await request.auser()
        try:
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            channels = []
            for param, value in wanted.items():
                factory = _CHANNELS.get(param)
                if factory is None:
                    raise Http404(f"No live topic {param!r}.")
                channels.append(await sync_to_async(factory)(request, user, value))
            channels += person_channels(user)
        finally:
            await sync_to_async(sse.release_connection)()
    if not isinstance(request, ASGIRequest):
        return HttpResponse(status=204)
    log.info("live_stream.open", user_id=user.pk, topics=sorted(wanted), comment=comment)
    return sse.response(
        await stream(
            channels,
            retry_ms=retry_ms,
            comment=comment,
            on_close=lambda: log.info("live_stream.close", user_id=user.pk, topics=sorted(wanted)),
        )
    )


async def stream_view(request):
    """/live/?incident=42&after=17: one stream for everything a tab shows."""
    wanted = {param: request.GET[param] for param in _CHANNELS if param in request.GET}
    return await stream_response(request, wanted)


async def stream(channels: list[Channel], *, retry_ms, comment="", on_close=None):
    """A tab's stream of these channels: on the hub where the database can LISTEN, by
    polling each channel (as often as the most eager wants) otherwise: the embedded default."""
    if await sync_to_async(uses_hub)():
        return _on_hub(channels, retry_ms=retry_ms, comment=comment, on_close=on_close)

    def poll():
        chunks = []
        for channel in channels:
            chunk = channel.poll()
            if chunk is None:
                return None
            chunks.append(chunk)
        return "".join(chunks)

    poll_seconds = min((channel.poll_seconds for channel in channels), default=1.0)
    return sse.polling(
        poll, poll_seconds=poll_seconds, retry_ms=retry_ms, comment=comment, on_close=on_close
    )


async def _on_hub(channels, *, retry_ms, comment, on_close):
    lifetime = LISTEN_LIFETIME_SECONDS * random.uniform(0.9, 1.1)  # noqa: S311 - jitter
    ends = time.monotonic() + lifetime
    await run_released(lambda: None)
    subscription = hub().subscribe(t for channel in channels for t in channel.topics)
    yield f"retry: {retry_ms}\n" + (f": {comment}\n" if comment else "") + "\n"
    last_sent = time.monotonic()
    due = {channel: set(channel.topics) for channel in channels}  # all read once at connect
    try:
        while (left := ends - time.monotonic()) > 0:
            chunks = []
            for channel, changed in due.items():
                chunk = await channel.read(changed)
                if chunk is None:  # the channel says the stream is over (access removed)
                    return
                chunks.append(chunk)
            if chunk := "".join(chunks):
                yield chunk
                last_sent = time.monotonic()
            quiet = sse.KEEPALIVE_SECONDS - (time.monotonic() - last_sent)
            if quiet <= 0:
                yield ": keep-alive\n\n"
                last_sent, quiet = time.monotonic(), sse.KEEPALIVE_SECONDS
            changed = await subscription.wait(min(quiet, left))
            due = {c: c.topics & changed for c in channels if c.topics & changed}
    except (asyncio.CancelledError, GeneratorExit, OSError):
        log.debug("live_stream.client_gone")
        raise
    finally:
        release(subscription)
        if on_close:
            on_close()
