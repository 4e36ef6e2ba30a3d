"""Swap requests reach people on the bell as well as by email: the request reaches the person
asked, the answer (accepted, declined) reaches the person who asked, a cancellation reaches the
person who was asked."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from oncall import services
from oncall.models import SwapRequest
from paging.models import InAppNotification
from tests.test_oncall_pages import NOW, login, platform

pytestmark = pytest.mark.django_db


def ask(schedule, requester, recipient, *, reason="school play"):
    return services.swap_request_create(
        layer=schedule.layers.get(name="Primary"),
        requester=requester,
        recipient=recipient,
        start=NOW,
        end=NOW + dt.timedelta(days=1),
        reason=reason,
        by=requester,
    )


def bell_of(user):
    return list(InAppNotification.objects.filter(user=user, read_at__isnull=True))


@time_machine.travel(NOW, tick=False)
def test_a_swap_request_lights_the_recipients_bell_with_a_link_to_the_swap(client):
    team, schedule, people, sam = platform()
    swap = ask(schedule, people[1], people[0])
    [note] = bell_of(people[0])
    assert note.title == f"{people[1].display_name} asks you to cover Platform on-call · Primary"
    assert "From Wed 14 Jan 13:00 to Thu 15 Jan 13:00 CET" in note.body
    assert "school play" in note.body
    assert note.url == f"/oncall/mine/#swap-{swap.pk}"
    assert bell_of(people[1]) == []  # the person asking is not told of their own request

    login(client, people[0])
    assert client.get(reverse("paging_bell")).context["unread"] == 1
    listed = client.get(reverse("paging_notifications")).content.decode()
    assert f'href="/oncall/mine/#swap-{swap.pk}"' in listed
    mine = client.get("/oncall/mine/").content.decode()
    assert f'id="swap-{swap.pk}"' in mine and "Accept swap" in mine


@time_machine.travel(NOW, tick=False)
def test_accepting_tells_the_requester_on_the_bell_and_by_email(
    client, django_capture_on_commit_callbacks
):
    team, schedule, people, sam = platform()
    swap = ask(schedule, people[1], people[0])
    login(client, people[0])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("oncall_swap_decide", args=[swap.pk, "accept"]))
    assert SwapRequest.objects.get().status == SwapRequest.Status.ACCEPTED
    [note] = bell_of(people[1])
    assert note.title == f"{people[0].display_name} accepted your swap request"
    assert "Platform on-call · Primary: From Wed 14 Jan" in note.body
    assert note.url == f"/oncall/schedules/{schedule.pk}/?date=2026-01-14"
    assert len(callbacks) == 1

    services.swap_request_notify_send(swap_id=swap.pk, status="accepted")
    assert mail.outbox[-1].to == [people[1].email]
    assert "accepted your swap request" in mail.outbox[-1].subject
    # The request's own email, run late, does not go out once the request was answered.
    sent = len(mail.outbox)
    services.swap_request_notify_send(swap_id=swap.pk)
    assert len(mail.outbox) == sent


@time_machine.travel(NOW, tick=False)
def test_declining_tells_the_requester_and_links_to_asking_someone_else(client):
    team, schedule, people, sam = platform()
    swap = ask(schedule, people[1], people[0])
    login(client, people[0])
    client.post(reverse("oncall_swap_decide", args=[swap.pk, "decline"]))
    [note] = bell_of(people[1])
    assert note.title == f"{people[0].display_name} declined your swap request"
    assert note.url == reverse("oncall_cover", args=[swap.layer_id])
    services.swap_request_notify_send(swap_id=swap.pk, status="declined")
    assert mail.outbox[-1].to == [people[1].email]
    assert "ask someone else" in mail.outbox[-1].body


@time_machine.travel(NOW, tick=False)
def test_cancelling_tells_the_person_who_was_asked(client):
    team, schedule, people, sam = platform()
    swap = ask(schedule, people[1], people[0])
    login(client, people[1])
    client.post(reverse("oncall_swap_decide", args=[swap.pk, "cancel"]))
    notes = bell_of(people[0])
    assert [n.title for n in notes] == [
        f"{people[1].display_name} cancelled the swap request for Platform on-call · Primary",
        f"{people[1].display_name} asks you to cover Platform on-call · Primary",
    ]
    assert notes[0].url == "/oncall/mine/"
    assert bell_of(people[1]) == []


@time_machine.travel(NOW, tick=False)
def test_a_refused_answer_lights_no_bell(client):
    team, schedule, people, sam = platform()
    swap = ask(schedule, people[1], people[0])
    login(client, people[2])  # not the person asked
    client.post(reverse("oncall_swap_decide", args=[swap.pk, "accept"]))
    assert bell_of(people[1]) == []
    assert SwapRequest.objects.get().status == SwapRequest.Status.PENDING
