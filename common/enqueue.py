"""One way to hand work to Celery: by task name, after the commit, through a broker outage.

- enqueue(name, *args, **kwargs) writes an OutboxTask row in the caller's transaction. After
  the commit a background thread publishes it and deletes the row; a rollback publishes
  nothing; a row the broker refused stays, and the outbox flush (common.tasks.outbox_flush,
  on the beat) publishes it once the broker is back.
- publish(name, args, kwargs, **options) publishes now and says whether the broker took it,
  for an app that keeps its own outbox rows (paging's notifications).
- run_in_background(fn, *args) runs fn on the small publishing pool, so a broker outage
  (kombu spends seconds failing to connect) never slows a request.

By name, so no app imports its own tasks module to enqueue. A message may go out twice (a
crash between publish and delete), so every task enqueued here must be idempotent.
"""

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

import structlog
from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from common.models import OutboxTask

logger = structlog.get_logger(__name__)

# A row refused this often has waited through a long outage: logged as an error each time.
STUCK_AFTER_ATTEMPTS = 10
FLUSH_BATCH = 100
FLUSH_MAX_BATCHES = 20

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_broker_down_until = 0.0


def enqueue(name: str, *args, **kwargs) -> OutboxTask:
    """Publish task `name` with these (JSON) arguments once the current transaction commits."""
    row = OutboxTask.objects.create(name=name, args=list(args), kwargs=kwargs)
    transaction.on_commit(lambda: run_in_background(_publish_one, row.pk), robust=True)
    return row


def publish(name: str, args=(), kwargs=None, **options) -> bool:
    """Publish task `name` now; False when the broker is down (or was, moments ago)."""
    return _send(name, args, kwargs, options) is None


def run_in_background(fn, *args) -> Future:
    """Run fn(*args) on the publishing pool; the thread's database connection closes after."""
    return _executor().submit(_closing_connection, fn, *args)


def outbox_flush() -> int:
    """Publish rows left behind (older than ENQUEUE_RETRY_AFTER: their after-commit publish
    failed or never ran), a batch at a time, until none is left or the broker refuses one.
    Returns how many the broker took."""
    published = 0
    for _ in range(FLUSH_MAX_BATCHES):
        if _backing_off():
            break
        cutoff = timezone.now() - timedelta(seconds=settings.ENQUEUE_RETRY_AFTER)
        with transaction.atomic():
            rows = list(
                OutboxTask.objects.select_for_update(skip_locked=True)
                .filter(created_at__lt=cutoff)
                .order_by("created_at", "id")[:FLUSH_BATCH]
            )
            sent = _publish_claimed(rows)
        published += sent
        if sent < FLUSH_BATCH:
            break
    if published:
        logger.info("outbox_flushed", published=published)
    return published


def _publish_one(pk: int) -> None:
    if _backing_off():
        return  # the row waits for the flush
    with transaction.atomic():
        # Locked while publishing, so the flush never publishes the same row meanwhile.
        row = OutboxTask.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
        if row is not None:
            _publish_claimed([row])


def _publish_claimed(rows: list[OutboxTask]) -> int:
    """Publish rows this transaction holds locked: those the broker took are deleted, the first
    it refused records why, and the rest wait for the next flush."""
    sent = []
    for row in rows:
        if _backing_off():
            break
        error = _send(row.name, row.args, row.kwargs)
        if error is None:
            sent.append(row.pk)
            continue
        row.attempts += 1
        row.last_attempt_at = timezone.now()
        row.last_error = error[:2000]
        row.save(update_fields=["attempts", "last_attempt_at", "last_error"])
        if row.attempts >= STUCK_AFTER_ATTEMPTS:
            logger.error(
                "outbox_task_stuck", outbox_id=row.pk, task=row.name, attempts=row.attempts
            )
        break
    if sent:
        OutboxTask.objects.filter(pk__in=sent).delete()
    return len(sent)


def _backing_off() -> bool:
    return time.monotonic() < _broker_down_until


def _send(name, args, kwargs, options=None) -> str | None:
    """None when the broker took the message, else why it did not."""
    global _broker_down_until
    if _backing_off():
        return "The broker was unreachable moments ago."
    try:
        current_app.send_task(
            name, args=list(args), kwargs=kwargs or {}, retry=False, **(options or {})
        )
    except Exception as exc:  # noqa: BLE001 — any broker failure: the database still has it
        _broker_down_until = time.monotonic() + settings.ENQUEUE_BROKER_BACKOFF
        logger.warning("enqueue_failed", task=name, error=str(exc))
        return f"{type(exc).__name__}: {exc}"
    return None


def _closing_connection(fn, *args):
    try:
        return fn(*args)
    except Exception:
        logger.exception("background_publish_failed", function=fn.__qualname__)
        raise
    finally:
        connection.close()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vigil-publish")
        return _pool


def _forget_pool_after_fork() -> None:
    # A forked child (a prefork worker) inherits the pool but none of its threads.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)
