"""Subscribers of a status page: subscribing (double opt-in for email), confirming,
unsubscribing, and the notices each public update or maintenance window makes for them.

Nobody signs in: links carry a signed subscriber id (TimestampSigner, a salt per purpose).
A confirm link lasts seven days; an unsubscribe link lasts as long as the mail it is in.
Notices are rows (one per subscriber and update), sent by the worker in batches and found
again by the beat tick, so a lost task loses no notice and a notice is never sent twice."""

import datetime as dt
import http.client
import json
import ssl
from email.utils import formataddr

import structlog
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import EmailValidator
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.services import audit_record
from common import outbound
from common.enqueue import enqueue
from status.maintenance import maintenance_silences_sync
from status.models import (
    Component,
    Maintenance,
    NoticeState,
    StatusUpdate,
    Subscriber,
    SubscriberKind,
    SubscriberNotice,
)

logger = structlog.get_logger(__name__)

CONFIRM_MAX_AGE = dt.timedelta(days=7)
CONFIRM_SALT = "status.subscriber.confirm"
UNSUBSCRIBE_SALT = "status.subscriber.unsubscribe"
INSERT_CHUNK = 1000
TASK_BATCH = 500
# A batch's notices are locked and sent this many at a time, each chunk its own
# transaction, so a worker that dies loses (and later resends) at most one chunk.
SEND_CHUNK = 50
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 60.0  # 1 min, then 4 min, before the third and last attempt
# A notice handed to the broker is looked for again by the tick after this long.
REQUEUE_AFTER = dt.timedelta(minutes=5)
TICK_LIMIT = 5000
WEBHOOK_TIMEOUT = 10.0
ERROR_LIMIT = 500

_email_validator = EmailValidator(message="Enter a valid email address.")


class SubscribeError(ValueError):
    """A refused subscription or link; the message says why and nothing was stored."""


# --- links -----------------------------------------------------------------------------------


def _page_url(name: str, page, **kwargs) -> str:
    path = reverse(f"{name}_named", kwargs={"slug": page.slug, **kwargs})
    return settings.SITE_URL.rstrip("/") + path


def confirm_token(subscriber, components=()) -> str:
    """The subscriber, the components they chose and when, signed for confirming."""
    payload = {"s": subscriber.pk, "c": sorted(int(c) for c in components)}
    payload["t"] = timezone.now().timestamp()
    return signing.TimestampSigner(salt=CONFIRM_SALT).sign_object(payload)


def unsubscribe_token(subscriber) -> str:
    return signing.TimestampSigner(salt=UNSUBSCRIBE_SALT).sign(str(subscriber.pk))


def confirm_url(subscriber, components=()) -> str:
    return _page_url("status_confirm", subscriber.page, token=confirm_token(subscriber, components))


def unsubscribe_url(subscriber) -> str:
    return _page_url("status_unsubscribe", subscriber.page, token=unsubscribe_token(subscriber))


def _unsign_confirm(token: str, page=None) -> tuple[Subscriber, dict]:
    try:
        payload = signing.TimestampSigner(salt=CONFIRM_SALT).unsign_object(
            token, max_age=CONFIRM_MAX_AGE
        )
    except signing.SignatureExpired:
        raise SubscribeError(
            "This confirmation link is more than 7 days old: subscribe again for a new one."
        ) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise SubscribeError("This confirmation link is not one Vigil sent.") from None
    subscriber = _subscriber_of(payload.get("s") if isinstance(payload, dict) else None, page)
    return subscriber, payload


def _unsign_unsubscribe(token: str, page=None) -> Subscriber:
    try:
        pk = signing.TimestampSigner(salt=UNSUBSCRIBE_SALT).unsign(token)
    except signing.BadSignature:
        raise SubscribeError("This unsubscribe link is not one Vigil sent.") from None
    return _subscriber_of(pk, page)


def _subscriber_of(pk, page) -> Subscriber:
    subscriber = None
    if isinstance(pk, int) or (isinstance(pk, str) and pk.isdigit()):
        subscriber = Subscriber.objects.select_related("page").filter(pk=int(pk)).first()
    if subscriber is None or (page is not None and subscriber.page_id != page.pk):
        # Signed but gone (the page was deleted) or for another page: as good as forged.
        raise SubscribeError("This link is not one Vigil sent for this page.")
    return subscriber


def subscriber_for_confirm(token: str, *, page=None) -> Subscriber:
    """The subscriber a confirm link names, or SubscribeError: for the page's button."""
    return _unsign_confirm(token, page)[0]


def subscriber_for_unsubscribe(token: str, *, page=None) -> Subscriber:
    return _unsign_unsubscribe(token, page)


# --- subscribing -----------------------------------------------------------------------------


def _clean_components(page, components) -> list[int]:
    ids = set()
    for value in components or ():
        text = str(value).strip()
        if not text.isdigit() or len(text) > 18:
            raise SubscribeError(f"Unknown component {text[:20]!r}.")
        ids.add(int(text))
    found = set(Component.objects.filter(page=page, pk__in=ids).values_list("pk", flat=True))
    if found != ids:
        raise SubscribeError(f"A component chosen is not on the page {page.title}.")
    return sorted(ids)


def _clean_email(address) -> str:
    address = (address or "").strip()
    if not address:
        raise SubscribeError("Enter an email address.")
    if len(address) > 254:
        raise SubscribeError("An email address is at most 254 characters.")
    try:
        _email_validator(address)
    except ValidationError:
        raise SubscribeError("Enter a valid email address.") from None
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def email_subscribe(*, page, address, components=()) -> None:
    """Ask `address` to confirm a subscription to `page` (to the chosen components, or all).

    One confirmation mail, and the same outcome whether or not the address is already a
    subscriber, so the form tells nobody who subscribes. Nothing about an existing
    subscriber changes until its owner confirms: their components are in the link."""
    address = _clean_email(address)
    chosen = _clean_components(page, components)
    subscriber, _ = Subscriber.objects.get_or_create(
        page=page, kind=SubscriberKind.EMAIL, address=address
    )
    subscriber.page = page
    _mail_confirmation(subscriber, chosen)


def _mail_confirmation(subscriber, chosen) -> None:
    context = {
        "page": subscriber.page,
        "confirm_url": confirm_url(subscriber, chosen),
        "unsubscribe_url": unsubscribe_url(subscriber),
        "max_age_days": CONFIRM_MAX_AGE.days,
    }
    message = _message(subscriber, "confirm", context)
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 — the answer is the same; the log says why
        logger.warning(
            "subscriber_confirmation_not_sent",
            page_id=subscriber.page_id,
            subscriber_id=subscriber.pk,
            error=_error_text(exc, subscriber),
        )


def _message(subscriber, template, context, *, connection=None) -> EmailMessage:
    """A mail to one subscriber with the one-click unsubscribe headers (RFC 2369, 8058)."""
    link = context.get("unsubscribe_url") or unsubscribe_url(subscriber)
    context = {**context, "unsubscribe_url": link}
    subject = render_to_string(f"status/email/{template}_subject.txt", context)
    body = render_to_string(f"status/email/{template}.txt", context)
    return EmailMessage(
        subject=" ".join(subject.split())[:200],
        body=body,
        from_email=formataddr((subscriber.page.title, settings.DEFAULT_FROM_EMAIL)),
        to=[subscriber.address],
        headers={
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
        connection=connection,
    )


def confirm(token: str, *, page=None) -> Subscriber:
    """Confirm the subscription a link names. A second click changes nothing; a link sent
    before the subscriber unsubscribed does not subscribe them again."""
    subscriber, payload = _unsign_confirm(token, page)
    sent_at = dt.datetime.fromtimestamp(float(payload.get("t") or 0), tz=dt.UTC)
    chosen = [c for c in payload.get("c") or [] if isinstance(c, int)]
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.unsubscribed_at and subscriber.unsubscribed_at > sent_at:
            raise SubscribeError(
                "You unsubscribed after this link was sent: subscribe again for a new one."
            )
        now = timezone.now()
        if not subscriber.is_active:
            subscriber.confirmed_at = now
            subscriber.unsubscribed_at = None
            subscriber.save(update_fields=["confirmed_at", "unsubscribed_at"])
        # Components deleted since the link was sent are dropped.
        subscriber.components.set(
            Component.objects.filter(page_id=subscriber.page_id, pk__in=chosen)
        )
    logger.info("subscriber_confirmed", page_id=subscriber.page_id, subscriber_id=subscriber.pk)
    return subscriber


def unsubscribe(token: str, *, page=None) -> Subscriber:
    """Unsubscribe the subscriber a link names; again is harmless."""
    subscriber = _unsign_unsubscribe(token, page)
    updated = Subscriber.objects.filter(pk=subscriber.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=timezone.now()
    )
    if updated:
        logger.info(
            "subscriber_unsubscribed", page_id=subscriber.page_id, subscriber_id=subscriber.pk
        )
    subscriber.refresh_from_db()
    return subscriber


def webhook_subscribe(*, page, url, components=()) -> Subscriber:
    """Subscribe a webhook receiver: an https URL whose host resolves to public addresses
    only (checked now and again before every send).

    No double opt-in: a URL has no inbox to confirm from, and a receiver that does not want
    the posts answers with an error; after three failed attempts a notice stops. Webhooks are
    made by the page's team (the admin or a service caller), never by the public form."""
    url = (url or "").strip()
    if len(url) > 500:
        raise SubscribeError("A webhook URL is at most 500 characters.")
    try:
        outbound.check_url(url)
    except outbound.OutboundRefused as exc:
        raise SubscribeError(str(exc)) from None
    chosen = _clean_components(page, components)
    with transaction.atomic():
        subscriber, _ = Subscriber.objects.get_or_create(
            page=page, kind=SubscriberKind.WEBHOOK, address=url
        )
        subscriber.confirmed_at = subscriber.confirmed_at or timezone.now()
        subscriber.unsubscribed_at = None
        subscriber.save(update_fields=["confirmed_at", "unsubscribed_at"])
        subscriber.components.set(chosen)
    return subscriber


# --- making notices --------------------------------------------------------------------------


def _insert_notices(*, page_id, column, value, component_sql, component_params) -> list[int]:
    """One INSERT ... SELECT: a pending notice for every active subscriber of the page who
    chose no components, or one of those `component_sql` selects. Returns the new ids."""
    notice = SubscriberNotice._meta.db_table
    subscriber = Subscriber._meta.db_table
    chosen = Subscriber.components.through._meta.db_table
    now = timezone.now()
    sql = f"""
        INSERT INTO {notice} (subscriber_id, {column}, state, attempts, next_attempt_at,
                              last_error, created_at)
        SELECT s.id, %s, %s, 0, %s, '', %s FROM {subscriber} s
        WHERE s.page_id = %s AND s.confirmed_at IS NOT NULL AND s.unsubscribed_at IS NULL
          AND (NOT EXISTS (SELECT 1 FROM {chosen} sc WHERE sc.subscriber_id = s.id)
               OR EXISTS (SELECT 1 FROM {chosen} sc
                          WHERE sc.subscriber_id = s.id AND sc.component_id IN ({component_sql})))
        ORDER BY s.id
        ON CONFLICT DO NOTHING
        RETURNING id
    """  # noqa: S608 — table names from the models; every value is a parameter
    params = [value, NoticeState.PENDING, now + REQUEUE_AFTER, now, page_id, *component_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def _enqueue_batches(ids) -> int:
    batches = 0
    for start in range(0, len(ids), TASK_BATCH):
        enqueue("status.tasks.notices_send", ids[start : start + TASK_BATCH])
        batches += 1
    return batches


def notices_for_update(update) -> int:
    """Notices of a public update for the page's active subscribers (all of it, or the
    components its impacts name), and a send task per batch. Returns how many."""
    if isinstance(update, int):
        update = StatusUpdate.objects.select_related("incident", "public_incident").get(pk=update)
    if not update.is_public or update.incident.is_private or update.incident.is_drill:
        return 0
    impacts = "SELECT component_id FROM status_componentimpact WHERE update_id = %s"
    with transaction.atomic():
        ids = _insert_notices(
            page_id=update.public_incident.page_id,
            column="update_id",
            value=update.pk,
            component_sql=impacts,
            component_params=[update.pk],
        )
        _enqueue_batches(ids)
    logger.info("subscriber_notices_made", update_id=update.pk, notices=len(ids))
    return len(ids)


def notices_for_maintenance(maintenance) -> int:
    """Notices of a maintenance window for the page's active subscribers of all of it or of
    one of its components."""
    if isinstance(maintenance, int):
        maintenance = Maintenance.objects.get(pk=maintenance)
    through = Maintenance.components.through._meta.db_table
    on = f"SELECT component_id FROM {through} WHERE maintenance_id = %s"  # noqa: S608
    with transaction.atomic():
        ids = _insert_notices(
            page_id=maintenance.page_id,
            column="maintenance_id",
            value=maintenance.pk,
            component_sql=on,
            component_params=[maintenance.pk],
        )
        _enqueue_batches(ids)
    logger.info("subscriber_notices_made", maintenance_id=maintenance.pk, notices=len(ids))
    return len(ids)


def maintenance_create(*, page, name, starts_at, ends_at, by, body="", components=()):
    """Announce a maintenance window on some of the page's components: their alerts are
    silenced for the window, and its subscribers are told once it is committed."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise SubscribeError("A maintenance window needs a name of at most 200 characters.")
    if ends_at <= starts_at:
        raise SubscribeError("A maintenance window ends after it starts.")
    chosen = _clean_components(page, components)
    with transaction.atomic():
        maintenance = Maintenance.objects.create(
            page=page,
            name=name,
            body=(body or "").strip(),
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=by,
        )
        maintenance.components.set(chosen)
        maintenance_silences_sync(maintenance=maintenance, by=by)
        audit_record(
            actor=by,
            action="status.maintenance_create",
            obj=page,
            after={"name": name, "components": chosen},
        )
        transaction.on_commit(lambda: notices_for_maintenance(maintenance.pk), robust=True)
    return maintenance


# --- sending ---------------------------------------------------------------------------------


def notices_send(ids) -> dict[str, int]:
    """Send the pending notices among `ids`. Each chunk is locked (skip locked: a second
    worker with the same ids skips them) and its states written in the same transaction,
    so a notice is sent at most once by Vigil's own doing."""
    counts = {"sent": 0, "failed": 0, "skipped": 0, "retry": 0}
    ids = sorted({int(i) for i in ids})
    for start in range(0, len(ids), SEND_CHUNK):
        _send_chunk(ids[start : start + SEND_CHUNK], counts)
    return counts


def _send_chunk(ids, counts) -> None:
    with transaction.atomic():
        notices = list(
            SubscriberNotice.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=ids, state=NoticeState.PENDING)
            .select_related(
                "subscriber__page", "update__public_incident", "update__incident", "maintenance"
            )
            .order_by("pk")
        )
        if not notices:
            return
        payloads: dict = {}
        mail = None
        now = timezone.now()
        for notice in notices:
            subscriber = notice.subscriber
            hidden = notice.update and (
                notice.update.incident.is_private or notice.update.incident.is_drill
            )
            if not subscriber.is_active or hidden:
                notice.state = NoticeState.SKIPPED
                counts["skipped"] += 1
                continue
            try:
                if subscriber.kind == SubscriberKind.EMAIL:
                    if mail is None:
                        mail = get_connection(fail_silently=False)
                        mail.open()
                    _message(subscriber, *_mail_for(notice, payloads), connection=mail).send()
                else:
                    _post_webhook(subscriber, _webhook_payload(notice, payloads))
            except Exception as exc:  # noqa: BLE001 — any failure is this notice's, retried
                notice.attempts += 1
                notice.last_error = _error_text(exc, subscriber)
                refused = isinstance(exc, outbound.OutboundRefused) and not exc.unresolved
                if refused or notice.attempts >= MAX_ATTEMPTS:
                    notice.state = NoticeState.FAILED
                    counts["failed"] += 1
                else:
                    wait = BACKOFF_SECONDS * 4 ** (notice.attempts - 1)
                    notice.next_attempt_at = now + dt.timedelta(seconds=wait)
                    counts["retry"] += 1
                logger.warning(
                    "subscriber_notice_failed",
                    notice_id=notice.pk,
                    page_id=subscriber.page_id,
                    attempts=notice.attempts,
                    error=notice.last_error,
                )
                if mail is not None and subscriber.kind == SubscriberKind.EMAIL:
                    mail.close()  # a broken connection is not reused for the next one
                    mail = None
                continue
            notice.attempts += 1
            notice.state = NoticeState.SENT
            notice.sent_at = timezone.now()
            counts["sent"] += 1
        if mail is not None:
            mail.close()
        SubscriberNotice.objects.bulk_update(
            notices, ["state", "attempts", "next_attempt_at", "last_error", "sent_at"]
        )


def _error_text(exc, subscriber) -> str:
    """Why a send failed, without the address or URL (a webhook URL may hold a token)."""
    text = f"{type(exc).__name__}: {exc}"
    text = text.replace(subscriber.address, "<subscriber>")
    if subscriber.kind == SubscriberKind.WEBHOOK:
        try:
            destination = outbound.parse_url(subscriber.address)
        except outbound.OutboundRefused:
            pass
        else:
            text = text.replace(destination.path, "/…") if destination.path != "/" else text
    return text[:ERROR_LIMIT]


def _mail_for(notice, cache) -> tuple[str, dict]:
    page = notice.subscriber.page
    context = {"page": page, "page_url": _page_url("status_page", page)}
    if notice.update_id:
        update = notice.update
        key = ("update", update.pk)
        if key not in cache:
            cache[key] = {
                "update": update,
                "incident": update.public_incident,
                "incident_url": _page_url("status_incident", page, pk=update.incident_id),
                "impacts": list(update.impacts.select_related("component")),
            }
        return "update", {**context, **cache[key]}
    key = ("maintenance", notice.maintenance_id)
    if key not in cache:
        maintenance = notice.maintenance
        cache[key] = {"maintenance": maintenance, "components": list(maintenance.components.all())}
    return "maintenance", {**context, **cache[key]}


def _when(at) -> str | None:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if at else None


def _webhook_payload(notice, cache) -> dict:
    """Statuspage's webhook body: the page, and the incident with its (public) updates."""
    subscriber = notice.subscriber
    page = subscriber.page
    key = ("webhook", notice.update_id, notice.maintenance_id)
    if key not in cache:
        cache[key] = _incident_payload(notice, page)
    return {
        "meta": {
            "unsubscribe": unsubscribe_url(subscriber),
            "documentation": _page_url("status_page", page),
            "generated_at": _when(timezone.now()),
        },
        "page": {
            "id": str(page.pk),
            "name": page.title,
            "url": _page_url("status_page", page),
            "time_zone": page.time_zone,
        },
        "incident": cache[key],
    }


def _incident_payload(notice, page) -> dict:
    if notice.maintenance_id:
        m = notice.maintenance
        return {
            "id": f"maintenance-{m.pk}",
            "name": m.name,
            "status": m.status_at(timezone.now()).value,
            "impact": "maintenance",
            "created_at": _when(m.created_at),
            "updated_at": _when(m.created_at),
            "scheduled_for": _when(m.starts_at),
            "scheduled_until": _when(m.ends_at),
            "shortlink": _page_url("status_page", page),
            "components": [{"id": str(c.pk), "name": c.name} for c in m.components.all()],
            "incident_updates": [
                {
                    "id": f"maintenance-{m.pk}",
                    "status": "scheduled",
                    "body": m.body,
                    "created_at": _when(m.created_at),
                    "display_at": _when(m.created_at),
                }
            ],
        }
    update = notice.update
    public_incident = update.public_incident
    updates = public_incident.updates.filter(is_public=True).prefetch_related("impacts__component")
    incident_id = str(update.incident_id)
    return {
        "id": incident_id,
        "name": public_incident.name,
        "status": public_incident.phase,
        "impact": public_incident.impact,
        "created_at": _when(public_incident.created_at),
        "updated_at": _when(public_incident.updated_at),
        "resolved_at": _when(public_incident.resolved_at),
        "shortlink": _page_url("status_incident", page, pk=update.incident_id),
        "incident_updates": [
            {
                "id": str(u.pk),
                "incident_id": incident_id,
                "status": u.phase,
                "body": u.body,
                "created_at": _when(u.posted_at),
                "updated_at": _when(u.posted_at),
                "display_at": _when(u.posted_at),
                "affected_components": [
                    {"code": str(i.component_id), "name": i.component.name, "new_status": i.status}
                    for i in u.impacts.all()
                ],
            }
            for u in updates
        ],
    }


def _post_webhook(subscriber, payload) -> int:
    """POST once, never following a redirect, to the address checked right now."""
    destination = outbound.check_url(subscriber.address)
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Vigil status page"}
    if destination.scheme == "https":
        conn = http.client.HTTPSConnection(
            destination.host,
            destination.port,
            timeout=WEBHOOK_TIMEOUT,
            context=ssl.create_default_context(),
        )
    else:
        conn = http.client.HTTPConnection(
            destination.host, destination.port, timeout=WEBHOOK_TIMEOUT
        )
    if destination.addresses:
        conn._create_connection = outbound.pinned_connection(destination.addresses)
    try:
        conn.request("POST", destination.path, body=body, headers=headers)
        status = conn.getresponse().status
    finally:
        conn.close()
    if not 200 <= status < 300:
        raise WebhookRefused(f"HTTP {status} from {destination.host}")
    return status


class WebhookRefused(RuntimeError):
    """The receiver answered, but not with a 2xx."""


def notices_requeue_due(*, limit=TICK_LIMIT) -> int:
    """For the beat: hand the broker again the pending notices whose time came (a retry's
    backoff passed, or a batch task was lost). Each is pushed on, so the next tick does not
    hand it out again while a worker has it."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            SubscriberNotice.objects.select_for_update(skip_locked=True)
            .filter(state=NoticeState.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        SubscriberNotice.objects.filter(pk__in=ids).update(next_attempt_at=now + REQUEUE_AFTER)
        _enqueue_batches(ids)
    logger.info("subscriber_notices_requeued", notices=len(ids))
    return len(ids)
