"""Subscribers of Vigil's public status pages: someone subscribes by email, confirms from the
one mail Vigil sends, is told of each public update (only of the components they chose),
and unsubscribes in one click; webhook receivers get Statuspage's JSON. Notices are rows
made in bulk and sent by the worker in batches, never twice."""

import datetime as dt
import email
import email.policy
import re
import socket

import pytest
import time_machine
from django.core import mail, signing
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents.models import Severity
from incidents.services import incident_declare
from status import subscribers
from status.models import (
    Component,
    NoticeState,
    StatusPage,
    Subscriber,
    SubscriberKind,
    SubscriberNotice,
)
from status.services import status_update_post
from tests.celery_worker import running_worker, wait_for
from tests.paging_fakes import FakeHTTP, FakeSMTP, worker_env

pytestmark = pytest.mark.django_db

CONFIRM_LINK = re.compile(r"https?://\S+/confirm/(\S+)/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def status_page(team):
    return StatusPage.objects.create(slug="acme", title="Acme", team=team, is_default=True)


@pytest.fixture
def api(status_page):
    return Component.objects.create(page=status_page, name="API")


@pytest.fixture
def web(status_page):
    return Component.objects.create(page=status_page, name="Web", position=1)


@pytest.fixture
def incident(team, responder):
    return incident_declare(
        title="db-7 disk full on the primary",
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=responder,
    )


@pytest.fixture
def enqueued(monkeypatch):
    """The send tasks handed to Celery, as (task name, notice ids)."""
    tasks = []
    monkeypatch.setattr(subscribers, "enqueue", lambda name, ids: tasks.append((name, ids)))
    return tasks


@pytest.fixture
def anyone():
    return Client(enforce_csrf_checks=False)


def deliver(enqueued):
    """What the worker does with the enqueued batches."""
    for _, ids in list(enqueued):
        subscribers.notices_send(ids)
    enqueued.clear()


def post_update(incident, by, page, *, public=True, components=None, body="Looking into it."):
    with transaction.atomic():
        update = status_update_post(
            incident=incident,
            phase="investigating",
            body=body,
            by=by,
            public=public,
            page=page if public else None,
            name="API errors" if public else None,
            components=components,
        )
    return update


@pytest.fixture
def post(incident, responder, status_page, django_capture_on_commit_callbacks):
    def _post(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post_update(incident, responder, status_page, **kwargs)

    return _post


def subscribe(client, address="ada@example.com", components=(), slug=None):
    url = reverse("status_subscribe_named", kwargs={"slug": slug}) if slug else "/status/subscribe/"
    return client.post(url, {"email": address, "component": [str(c) for c in components]})


def confirm_path(message) -> str:
    token = CONFIRM_LINK.search(message.body).group(1)
    return reverse("status_confirm_named", kwargs={"slug": "acme", "token": token})


def subscribed(client, address="ada@example.com", components=()):
    """Subscribe and confirm from the mail, as a reader would; the mail is then forgotten."""
    subscribe(client, address, components)
    path = confirm_path(mail.outbox[-1])
    assert client.post(path).status_code == 200
    mail.outbox.clear()
    return Subscriber.objects.get(address=address)


def unsubscribe_link(message) -> str:
    return message.extra_headers["List-Unsubscribe"].strip("<>")


# --- subscribing -----------------------------------------------------------------------------


def test_the_page_offers_the_subscribe_form(anyone, status_page, api):
    html = anyone.get("/status/").content.decode()
    assert 'action="/status/subscribe/"' in html
    assert ">Subscribe</button>" in html
    assert f'name="component" value="{api.pk}"' in html


def test_subscribing_mails_one_confirmation_and_nothing_else_before_confirming(
    anyone, status_page, enqueued, post
):
    response = subscribe(anyone)
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert "Confirm your subscription" in message.subject
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/status/p/acme/unsubscribe/" in message.extra_headers["List-Unsubscribe"]
    post()
    deliver(enqueued)
    assert len(mail.outbox) == 1
    assert not SubscriberNotice.objects.exists()


def test_the_answer_is_the_same_whether_or_not_the_address_subscribes(anyone, status_page):
    first = subscribe(anyone, "ada@example.com")
    again = subscribe(anyone, "ada@example.com")
    fresh = subscribe(anyone, "bob@example.com")
    assert first.status_code == again.status_code == fresh.status_code == 200
    assert first.content == again.content == fresh.content
    assert Subscriber.objects.filter(address="ada@example.com").count() == 1


@pytest.mark.parametrize(
    "address", ["", "not-an-address", "ada@", "ada@example..com", "a" * 250 + "@example.com"]
)
def test_an_invalid_address_is_refused_with_the_reason_and_nothing_stored(
    anyone, status_page, address
):
    response = subscribe(anyone, address)
    assert response.status_code == 400
    assert "email address" in response.content.decode()
    assert not Subscriber.objects.exists()
    assert not mail.outbox


def test_a_component_of_another_page_is_refused(anyone, status_page, other_team):
    other = StatusPage.objects.create(slug="payments", title="Payments", team=other_team)
    elsewhere = Component.objects.create(page=other, name="Checkout")
    for value in (elsewhere.pk, "x1", "99999999999999999999"):
        response = subscribe(anyone, components=[value])
        assert response.status_code == 400
    assert not Subscriber.objects.exists()


def test_the_pages_form_asks_once_more_with_the_readers_own_csrf_token(status_page, api):
    reader = Client(enforce_csrf_checks=True)
    page = reader.get("/status/").content.decode()
    assert "csrfmiddlewaretoken" not in page, "the cached page holds nobody's token"
    response = subscribe(reader, components=[api.pk])
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="ada@example.com"' in html
    assert f'value="{api.pk}" checked' in html
    assert not Subscriber.objects.exists()
    assert not mail.outbox
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = reader.post(
        "/status/subscribe/",
        {"email": "ada@example.com", "component": [api.pk], "csrfmiddlewaretoken": token},
    )
    assert "Check your inbox" in response.content.decode()
    assert len(mail.outbox) == 1


def test_an_unknown_page_is_a_404(anyone, status_page):
    assert subscribe(anyone, slug="nope").status_code == 404


# --- confirming ------------------------------------------------------------------------------


def test_the_confirm_link_asks_first_and_a_replay_changes_nothing(anyone, status_page, api):
    subscribe(anyone, components=[api.pk])
    path = confirm_path(mail.outbox[0])
    shown = anyone.get(path)
    assert shown.status_code == 200
    assert "Confirm subscription</button>" in shown.content.decode()
    subscriber = Subscriber.objects.get()
    assert subscriber.confirmed_at is None, "opening the link (a mail scanner) confirms nothing"
    assert anyone.post(path).status_code == 200
    subscriber.refresh_from_db()
    confirmed_at = subscriber.confirmed_at
    assert confirmed_at and list(subscriber.components.all()) == [api]
    assert anyone.post(path).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.confirmed_at == confirmed_at
    assert len(mail.outbox) == 1


def test_a_forged_confirm_link_is_a_400_with_the_reason(anyone, status_page):
    subscribe(anyone)
    path = confirm_path(mail.outbox[0])
    forged = signing.TimestampSigner(salt="elsewhere").sign_object({"s": 1, "c": [], "t": 0})
    for bad in (path[:-3] + "xx/", f"/status/p/acme/confirm/{forged}/", "/status/confirm/abc/"):
        response = anyone.post(bad)
        assert response.status_code == 400, bad
        assert "not one Vigil sent" in response.content.decode()
    assert Subscriber.objects.get().confirmed_at is None


def test_an_unsubscribe_link_is_no_confirm_link(anyone, status_page):
    subscribe(anyone)
    token = unsubscribe_link(mail.outbox[0]).rstrip("/").rsplit("/", 1)[1]
    assert anyone.post(f"/status/p/acme/confirm/{token}/").status_code == 400
    assert Subscriber.objects.get().confirmed_at is None


def test_an_expired_confirm_link_is_a_400_that_says_so(anyone, status_page):
    subscribe(anyone)
    path = confirm_path(mail.outbox[0])
    with time_machine.travel(timezone.now() + dt.timedelta(days=8)):
        response = anyone.post(path)
    assert response.status_code == 400
    assert "more than 7 days old" in response.content.decode()
    assert Subscriber.objects.get().confirmed_at is None


def test_a_confirm_link_for_another_page_is_refused(anyone, status_page, other_team):
    StatusPage.objects.create(slug="payments", title="Payments", team=other_team)
    subscribe(anyone)
    token = CONFIRM_LINK.search(mail.outbox[0].body).group(1)
    assert anyone.post(f"/status/p/payments/confirm/{token}/").status_code == 400


def test_a_confirm_link_sent_before_unsubscribing_does_not_subscribe_again(anyone, status_page):
    subscribe(anyone)
    message = mail.outbox[0]
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1)):
        anyone.post(unsubscribe_link(message))
        response = anyone.post(confirm_path(message))
    assert response.status_code == 400
    assert not Subscriber.objects.get().is_active


def test_subscribing_again_after_unsubscribing_needs_a_new_confirmation(anyone, status_page):
    subscriber = subscribed(anyone)
    anyone.post(subscribers.unsubscribe_url(subscriber))
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1)):
        subscribe(anyone)
        subscriber.refresh_from_db()
        assert not subscriber.is_active
        anyone.post(confirm_path(mail.outbox[-1]))
    subscriber.refresh_from_db()
    assert subscriber.is_active


# --- being told ------------------------------------------------------------------------------


def test_a_confirmed_subscriber_gets_each_public_update_and_unsubscribes_in_one_click(
    anyone, status_page, enqueued, post
):
    subscribed(anyone)
    post(public=False, body="Internal: the primary is out of disk.")
    deliver(enqueued)
    assert not mail.outbox, "an internal update goes to nobody outside"
    post(body="We are looking into API errors.")
    post(body="A fix is rolling out.")
    deliver(enqueued)
    assert [m.to for m in mail.outbox] == [["ada@example.com"]] * 2
    first = mail.outbox[0]
    assert "API errors" in first.subject
    assert "We are looking into API errors." in first.body
    assert "Internal" not in "".join(m.body for m in mail.outbox)
    assert first.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = unsubscribe_link(first)
    assert link in first.body
    # The mail provider's one-click POST (RFC 8058) carries no CSRF token.
    provider = Client(enforce_csrf_checks=True)
    response = provider.post(
        link, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert not Subscriber.objects.get().is_active
    mail.outbox.clear()
    post(body="Resolved.")
    deliver(enqueued)
    assert not mail.outbox


def test_the_unsubscribe_link_shows_a_button_before_unsubscribing(anyone, status_page):
    subscriber = subscribed(anyone)
    link = subscribers.unsubscribe_url(subscriber)
    response = anyone.get(link)
    assert response.status_code == 200
    assert "Unsubscribe</button>" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.is_active
    assert anyone.post(link).status_code == 200
    assert anyone.post(link).status_code == 200, "again is harmless"
    assert anyone.get(link[:-4] + "abc/").status_code == 400


def test_someone_who_unsubscribes_before_the_send_is_skipped(anyone, status_page, enqueued, post):
    subscriber = subscribed(anyone)
    post()
    anyone.post(subscribers.unsubscribe_url(subscriber))
    deliver(enqueued)
    assert not mail.outbox
    assert SubscriberNotice.objects.get().state == NoticeState.SKIPPED


def test_a_notice_is_never_sent_twice(anyone, status_page, enqueued, post):
    subscribed(anyone)
    post()
    (_, ids), *_ = enqueued
    subscribers.notices_send(ids)
    subscribers.notices_send(ids)
    assert len(mail.outbox) == 1
    assert SubscriberNotice.objects.get().state == NoticeState.SENT


def test_subscribers_hear_only_of_their_components(anyone, status_page, api, web, enqueued, post):
    subscribed(anyone, "api@example.com", [api.pk])
    subscribed(anyone, "web@example.com", [web.pk])
    subscribed(anyone, "all@example.com")
    post(components={api.pk: "major_outage"})
    deliver(enqueued)
    assert sorted(m.to[0] for m in mail.outbox) == ["all@example.com", "api@example.com"]
    assert "API: Major outage" in mail.outbox[0].body
    mail.outbox.clear()
    post(body="Still looking.")  # names no component: only those of all of it hear
    deliver(enqueued)
    assert [m.to[0] for m in mail.outbox] == ["all@example.com"]


def test_maintenance_goes_to_subscribers_of_its_components(
    anyone, status_page, api, web, responder, enqueued, django_capture_on_commit_callbacks
):
    subscribed(anyone, "api@example.com", [api.pk])
    subscribed(anyone, "web@example.com", [web.pk])
    subscribed(anyone, "all@example.com")
    starts = timezone.now() + dt.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        subscribers.maintenance_create(
            page=status_page,
            name="Database upgrade",
            body="Writes pause for a minute.",
            starts_at=starts,
            ends_at=starts + dt.timedelta(hours=1),
            components=[web.pk],
            by=responder,
        )
    deliver(enqueued)
    assert sorted(m.to[0] for m in mail.outbox) == ["all@example.com", "web@example.com"]
    assert "Planned maintenance: Database upgrade" in mail.outbox[0].subject
    assert "List-Unsubscribe" in mail.outbox[0].extra_headers


def test_a_private_incident_tells_nobody(anyone, status_page, incident, responder, enqueued):
    subscribed(anyone)
    update = post_update(incident, responder, status_page)
    incident.is_private = True
    incident.save(update_fields=["is_private"])
    assert subscribers.notices_for_update(update) == 0
    assert not enqueued


# --- webhooks --------------------------------------------------------------------------------


def test_a_webhook_subscriber_gets_statuspages_json(status_page, api, enqueued, post):
    with FakeHTTP(free_port()) as receiver:
        hook = subscribers.webhook_subscribe(page=status_page, url=receiver.url("/vigil"))
        assert hook.is_active, "a webhook needs no confirmation"
        post(components={api.pk: "partial_outage"}, body="Errors on the API.")
        deliver(enqueued)
        (request,) = receiver.accepted_at("/vigil")
    body = request["json"]
    assert request["headers"]["Content-Type"] == "application/json"
    assert body["page"]["id"] == str(status_page.pk)
    assert body["page"]["name"] == "Acme"
    assert body["meta"]["unsubscribe"].startswith("http")
    incident = body["incident"]
    assert incident["name"] == "API errors"
    assert incident["status"] == "investigating"
    (update,) = incident["incident_updates"]
    assert update["body"] == "Errors on the API."
    assert update["affected_components"] == [
        {"code": str(api.pk), "name": "API", "new_status": "partial_outage"}
    ]
    assert SubscriberNotice.objects.get().state == NoticeState.SENT


@pytest.mark.parametrize(
    "url",
    ["http://example.com/hook", "https://10.0.0.8/hook", "https://127.0.0.1/hook", "ftp://x/"],
)
def test_a_webhook_to_a_private_or_plain_address_is_refused_at_save(settings, status_page, url):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    with pytest.raises(subscribers.SubscribeError):
        subscribers.webhook_subscribe(page=status_page, url=url)
    assert not Subscriber.objects.exists()


def test_a_failing_webhook_is_tried_three_times_then_fails_without_its_secret(
    status_page, enqueued, post
):
    path = "/hooks/s3cret-token"
    with FakeHTTP(free_port(), script={path: [500, 503, 500]}) as receiver:
        subscribers.webhook_subscribe(page=status_page, url=receiver.url(path))
        post()
        deliver(enqueued)
        notice = SubscriberNotice.objects.get()
        assert (notice.state, notice.attempts) == (NoticeState.PENDING, 1)
        assert notice.next_attempt_at > timezone.now()
        assert subscribers.notices_requeue_due() == 0, "not before its backoff"
        for minutes in (2, 10):
            with time_machine.travel(timezone.now() + dt.timedelta(minutes=minutes)):
                assert subscribers.notices_requeue_due() == 1
                deliver(enqueued)
        assert len(receiver.requests) == 3
    notice.refresh_from_db()
    assert (notice.state, notice.attempts) == (NoticeState.FAILED, 3)
    assert "HTTP 500" in notice.last_error
    assert "s3cret" not in notice.last_error


def test_a_webhook_whose_address_turned_private_is_not_sent(settings, status_page, enqueued, post):
    with FakeHTTP(free_port()) as receiver:
        subscribers.webhook_subscribe(page=status_page, url=receiver.url("/vigil"))
        settings.OUTBOUND_ALLOWED_HOSTS = []
        post()
        deliver(enqueued)
        assert not receiver.requests
    notice = SubscriberNotice.objects.get()
    assert (notice.state, notice.attempts) == (NoticeState.FAILED, 1), "refused: no retry"
    assert "OUTBOUND_ALLOWED_HOSTS" in notice.last_error


# --- at scale --------------------------------------------------------------------------------


def _confirmed(page, count, start=0):
    now = timezone.now()
    Subscriber.objects.bulk_create(
        (
            Subscriber(
                page=page, kind=SubscriberKind.EMAIL, address=f"r{i}@example.com", confirmed_at=now
            )
            for i in range(start, start + count)
        ),
        batch_size=1000,
    )


@pytest.mark.slow
def test_ten_thousand_subscribers_get_their_notices_in_bounded_queries_and_batches(
    status_page, incident, responder, enqueued
):
    def notices_made():
        update = post_update(incident, responder, status_page)
        enqueued.clear()
        with CaptureQueriesContext(connection) as queries:
            made = subscribers.notices_for_update(update)
        return made, len(queries), list(enqueued)

    _confirmed(status_page, 1000)
    made, few_queries, _ = notices_made()
    assert made == 1000
    _confirmed(status_page, 9000, start=1000)
    made, many_queries, tasks = notices_made()
    assert made == 10_000
    assert many_queries == few_queries
    assert len(tasks) == 20
    assert {name for name, _ in tasks} == {"status.tasks.notices_send"}
    assert all(len(ids) == 500 for _, ids in tasks)
    assert not mail.outbox, "nothing is sent inline"
    assert SubscriberNotice.objects.filter(state=NoticeState.PENDING).count() == 11_000


def test_the_send_task_goes_to_the_default_queue(settings):
    from celery import current_app

    route = current_app.amqp.router.route({}, "status.tasks.notices_send")
    assert route["queue"].name == "default"
    assert "status.tasks.notices_requeue_due" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }


# --- through real SMTP and a real worker -----------------------------------------------------


def test_the_confirmation_goes_through_smtp_with_the_unsubscribe_headers(settings, status_page):
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    with FakeSMTP(port) as smtp:
        response = subscribe(Client())
        assert response.status_code == 200
        assert len(smtp.messages) == 1
    (message,) = smtp.messages
    assert message["to"] == ["ada@example.com"]
    parsed = email.message_from_string(message["data"], policy=email.policy.default)
    assert re.fullmatch(
        r"<http://\S+/status/p/acme/unsubscribe/\S+/>", parsed["List-Unsubscribe"].strip()
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/confirm/" in parsed.get_content()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_a_real_worker_mails_a_batch_once_each(status_page, incident, responder):
    port = free_port()
    _confirmed(status_page, 30)
    Subscriber.objects.filter(address="r0@example.com").update(unsubscribed_at=timezone.now())
    with FakeSMTP(port) as smtp, running_worker(env=worker_env(smtp_port=port)):
        post_update(incident, responder, status_page, body="We are looking into it.")
        done = wait_for(
            lambda: (
                not SubscriberNotice.objects.filter(state=NoticeState.PENDING).exists()
                and SubscriberNotice.objects.exists()
            ),
            timeout=60,
        )
        assert done, "the worker never sent the batch"
    assert SubscriberNotice.objects.filter(state=NoticeState.SENT).count() == 29
    recipients = sorted(r for m in smtp.messages for r in m["to"])
    assert len(recipients) == 29 == len(set(recipients))
    assert "r0@example.com" not in recipients
    for message in smtp.messages:
        parsed = email.message_from_string(message["data"], policy=email.policy.default)
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "We are looking into it." in parsed.get_content()
