"""The live stream itself: ids are timeline seqs, a resume sends everything after it once."""

import asyncio
import json
import re
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.urls import reverse

from incidents import services
from incidents.models import Severity, Status
from paging.services import escalation_start
from teams.models import Role
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def alex():
    return member(TeamFactory(slug="platform"), Role.RESPONDER, username="alex")


@pytest.fixture
def incident(alex):
    return services.incident_declare(
        title="Queue backlog",
        severity=Severity.objects.get(name="SEV2"),
        team=alex.memberships.get().team,
        by=alex,
    )


def read_stream(user, path, *, want, headers=None, timeout=5.0):
    """The SSE messages (id, event, data) of a stream until `want` of them arrived."""

    async def go():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(path, headers=headers or {})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/event-stream"
        assert response["Cache-Control"] == "no-cache"
        text = ""
        stream = aiter(response.streaming_content)
        try:
            while len(re.findall(r"^id: ", text, re.M)) < want:
                text += (await asyncio.wait_for(anext(stream), timeout)).decode()
        finally:
            await stream.aclose()
        return text

    text = async_to_sync(go)()
    messages = []
    for block in text.split("\n\n"):
        fields = {"data": []}
        for line in block.splitlines():
            key, _, value = line.partition(": ")
            if key == "data":
                fields["data"].append(value)
            elif key in ("id", "event"):
                fields[key] = value
        if "id" in fields:
            messages.append((int(fields["id"]), fields["event"], "\n".join(fields["data"])))
    return text, messages


def test_the_stream_sends_every_change_after_last_event_id_exactly_once(alex, incident):
    path = reverse("incident_event_stream", args=[incident.pk])
    notes = [
        services.timeline_note_add(incident=incident, body=f"note {i}", author=alex)
        for i in range(3)
    ]
    services.timeline_note_edit(event=notes[0], body="note 0, edited", by=alex)
    services.timeline_note_delete(event=notes[2], by=alex)
    incident.refresh_from_db()
    # declared 1, notes 2-4; the edit moves note 0 to 5, the deletion moves note 2 to 6
    assert incident.timeline_seq == 6
    text, messages = read_stream(alex, path, want=3, headers={"Last-Event-ID": "2"})
    assert text.startswith("retry: ")
    assert [seq for seq, _, _ in messages] == [3, 5, 6]
    assert all(event == "timeline" for _, event, _ in messages)
    assert f'id="event-{notes[1].pk}"' in messages[0][2]
    assert "note 0, edited" in messages[1][2] and ">edited<" in messages[1][2]
    assert 'data-deleted="1"' in messages[2][2] and "note 2" not in messages[2][2]


def test_after_its_events_the_stream_names_the_parts_of_the_page_they_changed(alex, incident):
    services.timeline_note_add(incident=incident, body="only a note", author=alex)
    path = reverse("incident_event_stream", args=[incident.pk])
    text, _ = read_stream(alex, path + "?after=1", want=1)
    assert "event: refresh" not in text  # a note changes no part

    escalation_start(incident=incident)
    services.incident_change_status(incident=incident, status=Status.ACKNOWLEDGED, by=alex)
    text, messages = read_stream(alex, path + "?after=2", want=2)
    assert {kind for _, kind, _ in messages} == {"timeline"}
    assert any("escalation stopped" in html for _, _, html in messages)
    refresh = text.split("event: refresh\ndata: ", 1)[1].split("\n", 1)[0]
    assert "paging" in json.loads(refresh) and "header" in json.loads(refresh)
    assert text.index("event: refresh") > text.index(f"id: {messages[-1][0]}")


def test_a_fresh_connection_resumes_from_the_after_parameter(alex, incident):
    services.timeline_note_add(incident=incident, body="first", author=alex)
    services.timeline_note_add(incident=incident, body="second", author=alex)
    path = reverse("incident_event_stream", args=[incident.pk]) + "?after=2"
    _, messages = read_stream(alex, path, want=1)
    assert [seq for seq, _, _ in messages] == [3]
    assert "second" in messages[0][2]


def test_times_in_the_stream_are_in_the_viewers_time_zone(alex, incident):
    alex.time_zone = "Asia/Tokyo"
    alex.save()
    event = services.timeline_note_add(incident=incident, body="tz", author=alex)
    path = reverse("incident_event_stream", args=[incident.pk]) + "?after=1"
    _, messages = read_stream(alex, path, want=1)
    local = event.occurred_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f">{local:%b} {local.day}, {local:%H:%M}</time>" in messages[0][2]
    assert f'title="{event.occurred_at:%Y-%m-%d %H:%M:%S} UTC"' in messages[0][2]


def test_a_private_incidents_stream_ends_when_the_viewers_access_is_removed(
    alex, incident, monkeypatch
):
    from asgiref.sync import sync_to_async

    from incidents import live

    bob = member(incident.team, Role.RESPONDER, username="bob")
    monkeypatch.setattr(live, "ACCESS_RECHECK_SECONDS", 0)
    incident.is_private = True
    incident.save(update_fields=["is_private"])
    path = reverse("incident_event_stream", args=[incident.pk])

    async def go():
        client = AsyncClient()
        await client.aforce_login(alex)
        response = await client.get(path)
        assert response.status_code == 200
        stream = aiter(response.streaming_content)
        text = (await asyncio.wait_for(anext(stream), 5)).decode()
        assert text.startswith("retry:")
        await alex.memberships.all().adelete()  # removed from the team, the page still open
        await sync_to_async(services.timeline_note_add)(
            incident=incident, body="after removal", author=bob
        )
        try:
            while True:
                text += (await asyncio.wait_for(anext(stream), 5)).decode()
        except StopAsyncIteration:
            return text

    text = async_to_sync(go)()
    assert "after removal" not in text
    again = async_to_sync(AsyncClient().get)(path)
    assert again.status_code in (302, 404)
