"""A page's query count is part of its contract: the same at N and many times N rows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import EventKind, Incident, Severity, Status, TimelineEvent

pytestmark = pytest.mark.django_db


def add_incidents(team, count):
    sevs = list(Severity.objects.all())
    now = timezone.now()
    statuses = list(Status)
    Incident.objects.bulk_create(
        Incident(
            title=f"Incident {i}",
            severity=sevs[i % 4],
            team=team,
            status=statuses[i % 4],
            started_at=now - timedelta(minutes=i),
            declared_at=now - timedelta(minutes=i),
            is_private=i % 7 == 0,
        )
        for i in range(count)
    )


def add_events(incident, author, count):
    start = timezone.now() - timedelta(days=1)
    base = incident.timeline_seq
    TimelineEvent.objects.bulk_create(
        TimelineEvent(
            incident=incident,
            kind=EventKind.NOTE if i % 3 else EventKind.ALERT,
            body=f"event {i}",
            body_html=f"<p>event {i}</p>",
            occurred_at=start + timedelta(seconds=i),
            author=author,
            pinned=i % 10 == 0,
            seq=base + i + 1,
        )
        for i in range(count)
    )
    Incident.objects.filter(pk=incident.pk).update(timeline_seq=base + count)


def queries_for(client, path, **headers):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, **headers)
    assert response.status_code == 200
    return len(ctx)


@pytest.mark.parametrize(
    "query",
    ["", "?status=open", "?severity=SEV2&sort=newest", "?q=Incident+1&team=platform&page=2"],
)
def test_the_incident_list_runs_the_same_queries_at_10_and_1000_incidents(
    team, responder, django_assert_num_queries, query
):
    client = Client()
    client.force_login(responder)
    path = reverse("incident_list") + query
    add_incidents(team, 10)
    at_ten = queries_for(client, path)
    at_ten_htmx = queries_for(client, path, HTTP_HX_REQUEST="true")
    add_incidents(team, 990)
    with django_assert_num_queries(at_ten):
        client.get(path)
    with django_assert_num_queries(at_ten_htmx):
        client.get(path, HTTP_HX_REQUEST="true")
    assert at_ten <= 10


def test_the_incident_page_runs_the_same_queries_at_10_and_500_events(
    team, responder, django_assert_num_queries
):
    incident = services.incident_declare(
        title="Checkout errors", severity=Severity.objects.get(name="SEV1"), team=team, by=responder
    )
    services.incident_assign_role(incident=incident, role="commander", user=responder, by=responder)
    client = Client()
    client.force_login(responder)
    add_events(incident, responder, 8)
    note = services.timeline_note_add(incident=incident, body="first", author=responder)
    services.timeline_note_edit(event=note, body="first, edited", by=responder)
    at_ten = queries_for(client, incident.get_absolute_url())
    add_events(incident, responder, 490)
    with django_assert_num_queries(at_ten):
        response = client.get(incident.get_absolute_url())
    assert response.content.decode().count('class="event ') == 200
    with django_assert_num_queries(at_ten):
        client.get(incident.get_absolute_url() + "?filter=notes")
