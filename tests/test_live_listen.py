"""The live layer on PostgreSQL, against real uvicorn processes: notifications, not polls.

A note reaches viewers on two web processes within a second; 200 idle streams cost the
database next to nothing; a killed LISTEN connection loses and repeats nothing; the embedded
SQLite default still works by polling.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from bench.live_bench import database_transactions
from bench.sse_pool_bench import open_stream, request, run, session_cookie
from incidents import services
from incidents.models import Severity
from teams.models import Role
from tests.factories import TeamFactory, member
from tests.test_incidents_live import ROOT, free_port

pytestmark = pytest.mark.django_db(transaction=True)

ID = re.compile(rb"^id: (\d+)$", re.MULTILINE)


@pytest.fixture
def incident():
    team = TeamFactory(slug="platform", name="Platform")
    alex = member(team, Role.RESPONDER, username="alex", first_name="Alex", last_name="Rivera")
    return services.incident_declare(
        title="Checkout errors", severity=Severity.objects.get(name="SEV2"), team=team, by=alex
    )


def stream_path(incident):
    incident.refresh_from_db()
    return f"/live/?incident={incident.pk}&after={incident.timeline_seq}"


def live_health(process) -> dict:
    status, body = run(request(process.port, "GET", "/health"))
    assert status in (200, 503), body
    return json.loads(body)["live"]


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Viewers:
    """SSE clients in a loop of their own thread, each collecting what its stream sends."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.streams = []
        self.received = []  # bytes per stream
        self.arrivals = []  # {marker: monotonic time} per stream
        self.tasks = []
        import threading

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro, timeout=60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def open(self, port, path, cookie, count=1, batch=20):
        async def go():
            # In batches, as people arrive: the web process has no pool here, and each
            # opening holds a connection while its middleware and access checks run.
            opened = []
            for start in range(0, count, batch):
                size = min(count, start + batch) - start
                opened += await asyncio.gather(
                    *(open_stream(port, path, cookie) for _ in range(size))
                )
            return opened

        async def start(opened):
            for reader, writer in opened:
                index = len(self.streams)
                self.streams.append(writer)
                self.received.append(b"")
                self.arrivals.append({})
                self.tasks.append(asyncio.create_task(self._read(reader, index)))

        self.call(start(self.call(go())))

    async def _read(self, reader, index):
        while chunk := await reader.read(65536):
            self.received[index] += chunk
            now = time.monotonic()
            for marker in re.findall(rb"note-marker-(\d+)", chunk):
                self.arrivals[index].setdefault(int(marker), now)

    def all_have(self, marker, indexes=None):
        indexes = range(len(self.streams)) if indexes is None else indexes
        return all(marker in self.arrivals[i] for i in indexes)

    def close(self):
        async def end():
            for writer in self.streams:
                writer.transport.abort()
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        self.call(end())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def viewers():
    found = Viewers()
    yield found
    found.close()


def post_note(incident, n):
    return services.timeline_note_add(
        incident=incident, body=f"note-marker-{n}", author=incident.declared_by
    )


def test_a_note_reaches_viewers_on_two_web_processes_within_a_second(
    web_processes, incident, viewers
):
    first, second = web_processes
    cookie = session_cookie("alex")
    viewers.open(first.port, stream_path(incident), cookie, count=3)
    viewers.open(second.port, stream_path(incident), cookie, count=3)
    for process in web_processes:
        wait_for(lambda p=process: live_health(p)["mode"] == "listening", what="LISTEN")

    for n in range(1, 6):
        started = time.monotonic()
        post_note(incident, n)
        wait_for(lambda n=n: viewers.all_have(n), timeout=5, what=f"note {n} everywhere")
        slowest = max(arrivals[n] for arrivals in viewers.arrivals) - started
        assert slowest < 1.0, f"note {n} took {slowest:.2f} s to reach every viewer"
    for received in viewers.received:
        ids = [int(i) for i in ID.findall(received)]
        assert ids == sorted(set(ids)) and len(ids) == 5  # each once, in order


def test_two_hundred_idle_streams_cost_the_database_next_to_nothing(web_process, incident, viewers):
    cookie = session_cookie("alex")
    viewers.open(web_process.port, stream_path(incident), cookie, count=200)
    wait_for(lambda: live_health(web_process).get("streams") == 200, what="200 streams")
    connection.close()  # this test's own backend flushes its statistics as it goes

    time.sleep(1)
    before = database_transactions()
    time.sleep(10)
    after = database_transactions()
    per_second = (after - before) / 10
    # A poll per stream would be hundreds a second; the hub's own are one per 15 s per kind.
    assert per_second <= 3, f"{per_second:.1f} database transactions a second while idle"
    # The streams were open all along, and still are, and still deliver.
    assert live_health(web_process)["streams"] == 200
    post_note(incident, 1)
    wait_for(lambda: viewers.all_have(1), timeout=5, what="the note at all 200")


def test_a_killed_listen_connection_loses_and_repeats_nothing(web_process, incident, viewers):
    cookie = session_cookie("alex")
    viewers.open(web_process.port, stream_path(incident), cookie, count=3)
    wait_for(lambda: live_health(web_process)["mode"] == "listening", what="LISTEN")
    post_note(incident, 1)
    wait_for(lambda: viewers.all_have(1), what="note 1")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'vigil-live' AND datname = current_database()"
        )
        assert cursor.fetchone()[0] == 1
    for n in (2, 3, 4):  # written while the process has no LISTEN connection
        post_note(incident, n)
    wait_for(lambda: viewers.all_have(4), timeout=10, what="notes written during the outage")
    wait_for(
        lambda: (h := live_health(web_process))["mode"] == "listening" and h["reconnects"] >= 1,
        what="LISTEN back",
    )
    for n in (5, 6):
        started = time.monotonic()
        post_note(incident, n)
        wait_for(lambda n=n: viewers.all_have(n), timeout=5, what=f"note {n}")
        assert max(a[n] for a in viewers.arrivals) - started < 1.0

    for received in viewers.received:
        ids = [int(i) for i in ID.findall(received)]
        assert ids == sorted(set(ids)) and len(ids) == 6
        markers = re.findall(rb"note-marker-(\d+)", received)
        assert sorted(int(m) for m in markers) == [1, 2, 3, 4, 5, 6]
    assert "live.listen_lost" in web_process.output()


def test_the_embedded_sqlite_default_still_delivers_by_polling(tmp_path):
    """`make run`'s database: no LISTEN, every stream polls, and a note still arrives."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'vigil.sqlite3'}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_ALLOW_ASYNC_UNSAFE": "",
    }
    env.pop("REDIS_URL", None)

    def manage(*args, stdin=None):
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput", "-v", "0")
    setup = (
        "from incidents import services\n"
        "from incidents.models import Severity\n"
        "from tests.factories import TeamFactory, member\n"
        "from teams.models import Role\n"
        "from bench.sse_pool_bench import session_cookie\n"
        "team = TeamFactory(slug='platform', name='Platform')\n"
        "alex = member(team, Role.RESPONDER, username='alex')\n"
        "i = services.incident_declare(title='Checkout', severity=Severity.objects.get("
        "name='SEV2'), team=team, by=alex)\n"
        "print(i.pk, i.timeline_seq, session_cookie('alex'))\n"
    )
    pk, seq, cookie = manage("shell", "-c", setup).split()[-3:]
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="vigil-web-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "vigil.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--timeout-graceful-shutdown", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    found = Viewers()
    try:
        wait_for(lambda: _answers(port), timeout=30, what="uvicorn on SQLite")
        assert live_health(_Port(port))["mode"] == "polling"
        found.open(port, f"/live/?incident={pk}&after={seq}", cookie)
        started = time.monotonic()
        manage(
            "shell", "-c",
            "from incidents import services\nfrom incidents.models import Incident\n"
            f"i = Incident.objects.get(pk={pk})\n"
            "services.timeline_note_add(incident=i, body='note-marker-1', author=i.declared_by)",
        )  # fmt: skip
        wait_for(lambda: found.all_have(1), timeout=5, what="the note on SQLite")
        assert found.arrivals[0][1] - started < 5
    finally:
        found.close()
        proc.terminate()
        proc.wait(10)
        if proc.returncode not in (0, -15):
            print(Path(log.name).read_text())


class _Port:
    def __init__(self, port):
        self.port = port


def _answers(port):
    try:
        return run(request(port, "GET", "/login/", timeout=2))[0] == 200
    except OSError:
        return False
