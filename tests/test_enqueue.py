"""One enqueue path (common.enqueue): a task is published after the commit that asked for it,
never after a rollback, and a broker outage loses nothing: the outbox row waits, and the flush
publishes it once the broker is back, where a real worker runs it once."""

import ast
import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from common import enqueue as outbox
from common.models import OutboxTask
from oncall import services as oncall_services
from oncall.models import SwapRequest
from oncall.services import LayerData
from tests.celery_worker import ROOT, running_worker, test_database_url, wait_for
from tests.factories import TeamFactory, member
from tests.paging_fakes import FakeSMTP, worker_env
from tests.test_layers import APPS, vigil_modules

SMTP_PORT = 18671
CLOSED_BROKER = "redis://127.0.0.1:1/0"
SWAP_TASK = "oncall.tasks.swap_request_notify"


def queued(queue="default"):
    """(task name, args) of the messages waiting in the test broker's queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    found = []
    for raw in client.lrange(queue, 0, -1):
        headers = json.loads(raw)["headers"]
        found.append((headers["task"], headers["argsrepr"]))
    return found


@pytest.fixture
def broker():
    current_app.control.purge()
    yield
    current_app.control.purge()


@pytest.fixture
def broker_up(monkeypatch):
    # An earlier test's refused publish must not leave this process backing off.
    monkeypatch.setattr(outbox, "_broker_down_until", 0.0)


def swap_setup():
    team = TeamFactory(time_zone="UTC")
    people = [member(team, username=f"s{i}", email=f"s{i}@vigil.example") for i in range(2)]
    start = timezone.now().replace(microsecond=0) + dt.timedelta(hours=2)
    with transaction.atomic():
        schedule = oncall_services.schedule_save(
            team=team,
            name="Daily",
            time_zone="UTC",
            layers=[
                LayerData(
                    name="Primary",
                    members=people,
                    start_date=start.date() - dt.timedelta(days=2),
                    cadence="daily",
                )
            ],
            by=people[0],
        )
    return schedule.layers.get(), people, start


def ask_for_swap(layer, people, start):
    """people[0] asks people[1] to take three hours of their shift."""
    return oncall_services.swap_request_create(
        layer=layer,
        requester=people[0],
        recipient=people[1],
        start=start,
        end=start + dt.timedelta(hours=3),
        by=people[0],
    )


def swap_tasks_finished(worker):
    lines = Path(worker.log_path).read_text().splitlines()
    return [line for line in lines if f"{SWAP_TASK}[" in line and "succeeded" in line]


def run_vigil(code, *, env):
    """Run `code` in a fresh Vigil process against the test database; returns its JSON line."""
    script = "import django, json, time\ndjango.setup()\n" + code
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "vigil.settings",
            "DATABASE_URL": test_database_url(),
            "CONN_MAX_AGE": "0",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- after the commit, never after a rollback ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_publishes_only_after_the_commit_and_deletes_the_row(broker, broker_up):
    with transaction.atomic():
        row = outbox.enqueue(SWAP_TASK, 4242, "pending")
        assert OutboxTask.objects.filter(pk=row.pk).exists()
        assert queued() == []  # nothing reaches the broker before the commit
    assert wait_for(lambda: not OutboxTask.objects.filter(pk=row.pk).exists())
    assert queued() == [(SWAP_TASK, "[4242, 'pending']")]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_publishes_nothing(broker, broker_up):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue(SWAP_TASK, 4242, "pending")
        raise RuntimeError("the change is refused")
    # A later commit's publish is the marker: the rolled-back task would have gone first.
    with transaction.atomic():
        outbox.enqueue(SWAP_TASK, 1, "pending")
    assert wait_for(lambda: not OutboxTask.objects.exists())
    assert queued() == [(SWAP_TASK, "[1, 'pending']")]


@pytest.mark.django_db(transaction=True)
def test_the_services_enqueue_by_name_after_commit(broker, broker_up, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    layer, people, start = swap_setup()
    swap = ask_for_swap(layer, people, start)
    assert wait_for(lambda: not OutboxTask.objects.exists())
    assert queued() == [(SWAP_TASK, f"[{swap.pk}, 'pending']")]


# --- the flush ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_flush_publishes_rows_left_behind_and_leaves_fresh_ones(broker, broker_up):
    old = timezone.now() - dt.timedelta(seconds=settings.ENQUEUE_RETRY_AFTER + 1)
    left = [OutboxTask.objects.create(name=SWAP_TASK, args=[i], created_at=old) for i in (1, 2)]
    fresh = OutboxTask.objects.create(name=SWAP_TASK, args=[3])
    assert outbox.outbox_flush() == 2
    assert list(OutboxTask.objects.all()) == [fresh]
    assert sorted(queued()) == [(SWAP_TASK, "[1]"), (SWAP_TASK, "[2]")]
    assert not OutboxTask.objects.filter(pk__in=[r.pk for r in left]).exists()


@pytest.mark.django_db(transaction=True)
def test_the_flush_skips_a_row_another_process_is_publishing(broker, broker_up):
    old = timezone.now() - dt.timedelta(seconds=settings.ENQUEUE_RETRY_AFTER + 1)
    busy = OutboxTask.objects.create(name=SWAP_TASK, args=[1], created_at=old)
    OutboxTask.objects.create(name=SWAP_TASK, args=[2], created_at=old)
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                OutboxTask.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        assert outbox.outbox_flush() == 1
    finally:
        release.set()
        holder.join()
    assert queued() == [(SWAP_TASK, "[2]")]
    assert list(OutboxTask.objects.values_list("pk", flat=True)) == [busy.pk]


# --- a broker outage ---------------------------------------------------------------------------

OUTAGE = """
from django.db import transaction
from common import enqueue as outbox
from common.models import OutboxTask
from oncall import services
from oncall.models import Layer
from accounts.models import User
import datetime as dt
layer = Layer.objects.get(pk={layer})
requester, recipient = User.objects.get(pk={requester}), User.objects.get(pk={recipient})
start = dt.datetime.fromisoformat("{start}")
began = time.monotonic()
with transaction.atomic():
    swap = services.swap_request_create(
        layer=layer, requester=requester, recipient=recipient,
        start=start, end=start + dt.timedelta(hours=3), by=requester,
    )
committed = time.monotonic() - began
outbox._executor().shutdown(wait=True)  # the after-commit publish has been tried
began = time.monotonic()
refused = outbox.publish("{task}", [swap.pk, "pending"])
backing_off = time.monotonic() - began
print(json.dumps({{"swap": swap.pk, "committed": committed, "refused": refused,
                   "backing_off": backing_off, "flushed": outbox.outbox_flush()}}))
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_a_broker_outage_loses_nothing_and_the_email_goes_out_once_when_it_is_back():
    layer, people, start = swap_setup()
    # A Vigil process whose broker is a closed port: kombu takes seconds to give up on it.
    result = run_vigil(
        OUTAGE.format(
            layer=layer.pk,
            requester=people[0].pk,
            recipient=people[1].pk,
            start=start.isoformat(),
            task=SWAP_TASK,
        ),
        env={"REDIS_URL": CLOSED_BROKER, "ENQUEUE_RETRY_AFTER": "0"},
    )
    # Giving up on the closed port takes kombu seconds; a commit that waited on it would show
    # that, even on a loaded machine where the commit alone took 0.6 s.
    assert result["committed"] < 2.0, f"the request waited on the broker ({result})"
    assert result["refused"] is False
    assert result["backing_off"] < 0.1, "a broker that just refused is not tried again at once"
    assert result["flushed"] == 0
    [row] = OutboxTask.objects.all()
    assert (row.name, row.args, row.attempts) == (SWAP_TASK, [result["swap"], "pending"], 1)
    assert "Connection refused" in row.last_error

    # The broker is back: the beat's flush publishes the row and a real worker emails once.
    env = worker_env(
        smtp_port=SMTP_PORT, extra={"ENQUEUE_RETRY_AFTER": "0", "ENQUEUE_FLUSH_EVERY": "0.5"}
    )
    with FakeSMTP(SMTP_PORT) as smtp, running_worker(beat=True, env=env) as worker:
        assert wait_for(lambda: smtp.messages, timeout=40), Path(worker.log_path).read_text()
        assert wait_for(lambda: not OutboxTask.objects.exists())
        # Delivered a second time (a crash between publish and delete): still one email.
        assert outbox.publish(SWAP_TASK, [result["swap"], "pending"])
        assert wait_for(lambda: len(swap_tasks_finished(worker)) == 2, timeout=20)
    assert [m["to"] for m in smtp.messages] == [[people[1].email]]
    assert "asks you to cover" in smtp.messages[0]["data"]
    assert SwapRequest.objects.get().emailed_for == "pending"


# --- idempotent receivers ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_swap_email_delivered_twice_goes_out_once(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    layer, people, start = swap_setup()
    swap = ask_for_swap(layer, people, start)
    oncall_services.swap_request_notify_send(swap_id=swap.pk)
    oncall_services.swap_request_notify_send(swap_id=swap.pk)
    assert [m.to for m in mail.outbox] == [[people[1].email]]
    oncall_services.swap_request_cancel(swap=swap, by=people[0])
    oncall_services.swap_request_notify_send(swap_id=swap.pk, status="cancelled")
    oncall_services.swap_request_notify_send(swap_id=swap.pk, status="cancelled")
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_a_swap_email_that_failed_is_sent_by_the_retry(settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    layer, people, start = swap_setup()
    swap = ask_for_swap(layer, people, start)

    def refused(**kwargs):
        raise OSError("SMTP server unreachable")

    monkeypatch.setattr(oncall_services, "send_mail", refused)
    with pytest.raises(OSError):
        oncall_services.swap_request_notify_send(swap_id=swap.pk)
    monkeypatch.undo()
    oncall_services.swap_request_notify_send(swap_id=swap.pk)
    assert [m.to for m in mail.outbox] == [[people[1].email]]


# --- wiring ------------------------------------------------------------------------------------


def test_every_thread_publishes_with_vigils_celery_app():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(current_app._get_current_object()))
    thread.start()
    thread.join()
    (app,) = seen
    # Vigil's app (made in vigil/celery.py), with Vigil's broker: not a default Celery made on
    # first use, which would publish to amqp://localhost.
    assert app.main == "vigil"
    assert app is current_app._get_current_object()
    assert app.conf.broker_url == settings.CELERY_BROKER_URL


def test_the_beat_flushes_the_outbox_on_the_default_queue_with_an_expiry():
    [entry] = [
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "common.tasks.outbox_flush"
    ]
    assert entry["options"]["queue"] == "default"
    assert 0 < entry["options"]["expires"] <= 60
    assert entry["schedule"].run_every.total_seconds() <= 10


def test_every_task_enqueued_by_name_exists():
    for app in APPS:
        if (ROOT / app / "tasks.py").exists():
            importlib.import_module(f"{app}.tasks")
    names = set()
    for _, path in vigil_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None))
                in ("enqueue", "publish")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    assert names >= {SWAP_TASK, "postmortems.tasks.notify_reviewers"}
    assert names - set(current_app.tasks) == set()
