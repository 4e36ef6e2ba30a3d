"""Delivering one outbox row: claim it (pending → sending, one row or nothing), send, record
the attempt, then sent, or pending again with exponential backoff, or failed at the end."""

import base64
import hashlib
import hmac
import http.client
import json
import random
import ssl
import time
import urllib.parse
from datetime import timedelta

import structlog
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.utils import timezone

from common import live, outbound
from paging.models import (
    Channel,
    DeliveryAttempt,
    DeliveryState,
    InAppNotification,
    Notification,
    bell_topic,
)

logger = structlog.get_logger(__name__)


class DeliveryError(Exception):
    """`permanent`: retrying cannot help (nothing to send with), so the row fails at once."""

    def __init__(self, message, status_code=None, *, permanent=False):
        super().__init__(message)
        self.status_code = status_code
        self.permanent = permanent


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped, with up to 20 % jitter so retries do not stampede."""
    base = settings.PAGING_BACKOFF_BASE * (2 ** max(0, attempts - 1))
    delay = min(base, settings.PAGING_BACKOFF_MAX)
    return timedelta(seconds=delay * (1 + random.random() * 0.2))


def webhook_signature(body: bytes, stamp: int) -> str:
    secret = settings.PAGING_WEBHOOK_SECRET.encode()
    return hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def _post_json(url, payload, *, headers=None, trusted=False) -> int:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _post(url, body, "application/json", headers=headers, trusted=trusted)


def _post(url, body: bytes, content_type: str, *, headers=None, trusted=False) -> int:
    """POST once and never follow a redirect, so a signature goes nowhere else. A URL a person
    gave is checked again now (DNS may have changed since it was saved) and the connection
    goes to the very address checked; `trusted` endpoints (operators' settings) are not."""
    all_headers = {"Content-Type": content_type, "User-Agent": "Vigil"}
    if headers:
        all_headers.update(headers(body) if callable(headers) else headers)
    if not url.startswith(("https://", "http://")):
        raise DeliveryError("Only http(s) URLs are delivered to.", permanent=True)
    where = url.split("/")[2]
    try:
        destination = outbound.parse_url(url) if trusted else outbound.check_url(url)
    except outbound.OutboundRefused as exc:
        if exc.unresolved:
            raise DeliveryError(f"Could not reach {where}: {exc}") from exc
        raise DeliveryError(f"Not sent to {where}: {exc}", permanent=True) from exc
    try:
        status = _request(destination, body, all_headers)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise DeliveryError(f"Could not reach {where}: {exc}") from exc
    if 300 <= status < 400:
        raise DeliveryError(f"HTTP {status} from {where}: redirect refused", status)
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status} from {where}", status)
    return status


def _request(destination: outbound.Destination, body: bytes, headers: dict) -> int:
    timeout = settings.PAGING_HTTP_TIMEOUT
    if destination.scheme == "https":
        conn = http.client.HTTPSConnection(
            destination.host,
            destination.port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        conn = http.client.HTTPConnection(destination.host, destination.port, timeout=timeout)
    if destination.addresses:
        # The host name stays for the Host header, SNI and the certificate check.
        conn._create_connection = outbound.pinned_connection(destination.addresses)
    try:
        conn.request("POST", destination.path, body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def _telephony(resource: str, form: dict) -> int:
    """SMS and calls through a Twilio-compatible REST API (Twilio itself, or a provider that
    speaks the same API): form-encoded POST, HTTP Basic with the account SID and token."""
    sid, token = settings.SMS_ACCOUNT_SID, settings.SMS_AUTH_TOKEN
    if not (sid and token and settings.SMS_FROM_NUMBER):
        raise DeliveryError(
            "SMS and phone calls are not set up on this Vigil: set SMS_ACCOUNT_SID, "
            "SMS_AUTH_TOKEN and SMS_FROM_NUMBER.",
            permanent=True,
        )
    url = f"{settings.SMS_API_URL.rstrip('/')}/2010-04-01/Accounts/{sid}/{resource}.json"
    body = urllib.parse.urlencode({"From": settings.SMS_FROM_NUMBER, **form}).encode()
    credentials = base64.b64encode(f"{sid}:{token}".encode()).decode()
    return _post(
        url,
        body,
        "application/x-www-form-urlencoded",
        headers={"Authorization": f"Basic {credentials}", "Accept": "application/json"},
        trusted=True,
    )


def _send(notification) -> int | None:
    payload = notification.payload
    if notification.channel == Channel.SMS:
        return _telephony("Messages", {"To": payload["to"], "Body": payload["body"]})
    if notification.channel == Channel.VOICE:
        return _telephony("Calls", {"To": payload["to"], "Twiml": payload["twiml"]})
    if notification.channel == Channel.PAGERDUTY:
        # The target is PAGERDUTY_EVENTS_URL, written from the operator's settings.
        return _post_json(notification.target, payload, trusted=True)
    if notification.channel == Channel.SLACK:
        return _post_json(notification.target, payload)
    if notification.channel == Channel.WEBHOOK:
        key = notification.key

        def signed(body):
            stamp = int(time.time())
            return {
                "X-Vigil-Delivery": key,
                "X-Vigil-Timestamp": str(stamp),
                "X-Vigil-Signature": f"t={stamp},v1={webhook_signature(body, stamp)}",
            }

        return _post_json(notification.target, payload, headers=signed)
    if notification.channel == Channel.EMAIL:
        try:
            connection = get_connection(timeout=settings.PAGING_HTTP_TIMEOUT)
            message = EmailMessage(
                subject=payload["subject"],
                body=payload["body"],
                to=[payload["to"]],
                connection=connection,
                headers={"X-Vigil-Delivery": notification.key},
            )
            message.send()
        except (OSError, Exception) as exc:  # noqa: BLE001 — smtplib raises many kinds
            raise DeliveryError(f"SMTP: {exc}") from exc
        return None
    raise DeliveryError(f"Unknown channel {notification.channel}")


def _claim(notification_id: int, now) -> Notification | None:
    """pending → sending, or nothing when another worker has it or it is not due: one
    conditional UPDATE … RETURNING, so the claim and the row come back in one round trip."""
    table = connection.ops.quote_name(Notification._meta.db_table)
    claimed = list(
        Notification.objects.raw(
            f"UPDATE {table} SET state = %s, sending_started_at = %s, "  # noqa: S608
            "attempts = attempts + 1 WHERE id = %s AND state = %s AND next_attempt_at <= %s "
            "RETURNING *",
            [DeliveryState.SENDING, now, notification_id, DeliveryState.PENDING, now],
        )
    )
    return claimed[0] if claimed else None


def in_app_write(notifications, *, at) -> None:
    """Deliver in-app notifications (already saved, marked sent): the bell's rows and the
    delivery log's attempt, in the caller's transaction."""
    if not notifications:
        return
    live.publish(*(bell_topic(n.user_id) for n in notifications))
    InAppNotification.objects.bulk_create(
        [
            InAppNotification(
                user_id=n.user_id,
                incident_id=n.incident_id,
                page_id=n.page_id,
                title=n.payload["title"],
                body=n.payload.get("body", ""),
                url=n.payload.get("url", ""),
                created_at=at,
            )
            for n in notifications
        ]
    )
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                notification=n, number=n.attempts, started_at=at, finished_at=at, ok=True
            )
            for n in notifications
        ]
    )


def deliver(notification_id: int) -> str:
    now = timezone.now()
    notification = _claim(notification_id, now)
    if notification is None:
        return "skipped"
    log = logger.bind(notification_id=notification.pk, channel=notification.channel)
    if notification.channel == Channel.IN_APP:
        with transaction.atomic():
            in_app_write([notification], at=now)
            Notification.objects.filter(pk=notification.pk, state=DeliveryState.SENDING).update(
                state=DeliveryState.SENT, sent_at=timezone.now(), last_error=""
            )
        return "sent"
    attempt = DeliveryAttempt.objects.create(
        notification=notification, number=notification.attempts, started_at=now
    )
    try:
        status = _send(notification)
    except DeliveryError as exc:
        attempt.finished_at = timezone.now()
        attempt.status_code = exc.status_code
        attempt.error = str(exc)[:2000]
        attempt.save(update_fields=["finished_at", "status_code", "error"])
        give_up = exc.permanent or notification.attempts >= settings.PAGING_MAX_ATTEMPTS
        Notification.objects.filter(pk=notification.pk, state=DeliveryState.SENDING).update(
            state=DeliveryState.FAILED if give_up else DeliveryState.PENDING,
            next_attempt_at=timezone.now() + backoff(notification.attempts),
            enqueued_at=None,
            last_error=str(exc)[:2000],
        )
        log.warning(
            "delivery_failed", error=str(exc), attempts=notification.attempts, give_up=give_up
        )
        return "failed" if give_up else "retry"
    finished = timezone.now()
    attempt.finished_at, attempt.ok, attempt.status_code = finished, True, status
    attempt.save(update_fields=["finished_at", "ok", "status_code"])
    Notification.objects.filter(pk=notification.pk, state=DeliveryState.SENDING).update(
        state=DeliveryState.SENT, sent_at=finished, last_error=""
    )
    log.info("delivered", attempts=notification.attempts)
    return "sent"
