"""The incidents JSON API: tokens, each operation, the page's permission rules, bad input."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from accounts.tokens import api_token_create
from audit.models import AuditEntry
from incidents.models import EventKind, Incident, Severity, Status, TimelineEvent
from incidents.services import incident_change_status
from teams.models import Role
from tests.factories import IncidentFactory, TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db

BASE = "/api/v1/incidents/"


def _auth(user):
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _post(client, url, user, data):
    return client.post(url, data, content_type="application/json", **_auth(user))


def _get(client, url, user, **params):
    return client.get(url, params, **_auth(user))


# --- authentication ---------------------------------------------------------------------------


def test_it_refuses_a_call_without_a_token(client, team):
    IncidentFactory(team=team)
    response = client.get(BASE)
    assert response.status_code == 401
    assert "API token" in response.json()["detail"]


def test_it_refuses_a_wrong_token(client, team):
    response = client.get(BASE, HTTP_AUTHORIZATION="Bearer vgl_not-a-real-token")
    assert response.status_code == 401
    response = client.get(BASE, HTTP_AUTHORIZATION="Bearer " + "x" * 500)
    assert response.status_code == 401
    response = client.get(BASE, HTTP_AUTHORIZATION="Basic YWxleDpwdw==")
    assert response.status_code == 401


def test_a_wrong_token_changes_nothing(client, team):
    response = client.post(
        BASE,
        {"title": "Checkout down", "severity": "SEV1", "team": "platform"},
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer vgl_wrong",
    )
    assert response.status_code == 401
    assert Incident.objects.count() == 0


def test_a_session_login_is_not_enough_for_the_api(client, responder):
    client.force_login(responder)
    assert client.get(BASE).status_code == 401


# --- happy paths ------------------------------------------------------------------------------


def test_it_lists_incidents_open_first_with_utc_timestamps(client, team, responder):
    resolved = IncidentFactory(team=team, title="Old outage")
    incident_change_status(incident=resolved, status=Status.RESOLVED, by=responder)
    IncidentFactory(team=team, title="Queue backlog")
    response = _get(client, BASE, responder)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [i["title"] for i in body["results"]] == ["Queue backlog", "Old outage"]
    first = body["results"][0]
    assert first["declared_at"].endswith("Z")
    assert dt.datetime.fromisoformat(first["declared_at"]).utcoffset() == dt.timedelta(0)
    assert first["severity"]["name"] == "SEV2"
    assert first["team"] == {"slug": "platform", "name": "Platform"}


def test_it_filters_by_status_severity_team_and_text(client, team, responder):
    other = TeamFactory(slug="search")
    IncidentFactory(team=team, title="Card payments failing", severity=_sev(1))
    IncidentFactory(team=team, title="Slow receipts", severity=_sev(3))
    IncidentFactory(team=other, title="Search index stale", severity=_sev(3))
    acked = IncidentFactory(team=team, title="Refund errors", severity=_sev(2))
    incident_change_status(incident=acked, status=Status.ACKNOWLEDGED, by=responder)

    def titles(**params):
        response = _get(client, BASE, responder, **params)
        assert response.status_code == 200, response.content
        return sorted(i["title"] for i in response.json()["results"])

    assert titles(severity="SEV3") == ["Search index stale", "Slow receipts"]
    assert titles(severity="sev1") == ["Card payments failing"]
    assert titles(team="search") == ["Search index stale"]
    assert titles(status="acknowledged") == ["Refund errors"]
    assert titles(q="PAYMENTS") == ["Card payments failing"]
    assert titles(team="platform", severity="SEV3") == ["Slow receipts"]


def test_it_pages_through_the_list(client, team, responder):
    for n in range(7):
        IncidentFactory(team=team, title=f"Incident {n}")
    first = _get(client, BASE, responder, page_size=3).json()
    assert (first["count"], first["pages"], len(first["results"])) == (7, 3, 3)
    last = _get(client, BASE, responder, page_size=3, page=3).json()
    assert len(last["results"]) == 1
    seen = {i["id"] for p in (1, 2, 3) for i in _page(client, responder, p)}
    assert len(seen) == 7


def _page(client, user, page):
    return _get(client, BASE, user, page_size=3, page=page).json()["results"]


@pytest.mark.parametrize("open_incidents", [3, 100])
def test_the_list_runs_the_same_queries_at_10_and_100_incidents(
    client, team, responder, django_assert_num_queries, open_incidents
):
    """Open first then resolved: the same queries whether the page comes from one part or
    both, at N and 10N incidents."""
    headers = _auth(responder)

    def add(n):
        for _ in range(n):
            still_open = Incident.objects.exclude(status=Status.RESOLVED).count()
            incident = _incident_with_roles(team, responder)
            if still_open >= open_incidents:
                Incident.objects.filter(pk=incident.pk).update(status=Status.RESOLVED)

    add(10)
    client.get(BASE, **headers)  # the token's last-used time is written once a minute
    with django_assert_num_queries(8 if open_incidents < 5 else 6) as first:
        small = client.get(BASE, {"page_size": 5}, **headers)
    add(90)
    with django_assert_num_queries(len(first.captured_queries)):
        large = client.get(BASE, {"page_size": 5}, **headers)
    assert len(small.json()["results"]) == len(large.json()["results"]) == 5
    assert large.json()["count"] == 100


def _incident_with_roles(team, person):
    incident = IncidentFactory(team=team, commander=person, scribe=person)
    incident.responders.add(person)
    return incident


def test_it_reads_one_incident_with_roles_impact_and_timestamps(client, team, responder):
    jordan = member(team, Role.RESPONDER, username="jordan", first_name="Jordan", last_name="Lee")
    incident = IncidentFactory(
        team=team,
        title="Auth failures",
        commander=responder,
        users_affected=3000,
        failed_requests=4500,
        revenue_impact="2000.00",
        sla_breach=True,
        affected_services=["auth"],
        status_page_url="https://status.example.com/incidents/1",
        started_at=dt.datetime(2024, 1, 15, 3, 10, tzinfo=dt.UTC),
    )
    incident.responders.add(jordan)
    incident_change_status(
        incident=incident,
        status=Status.ACKNOWLEDGED,
        by=responder,
        at=dt.datetime(2024, 1, 15, 3, 14, tzinfo=dt.UTC),
    )
    response = _get(client, f"{BASE}{incident.pk}", responder)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "acknowledged"
    assert body["started_at"] == "2024-01-15T03:10:00Z"
    assert body["acknowledged_at"] == "2024-01-15T03:14:00Z"
    assert body["mitigated_at"] is None
    assert body["roles"]["commander"]["username"] == "alex"
    assert body["roles"]["responders"] == [{"username": "jordan", "name": "Jordan Lee"}]
    assert body["impact"]["users_affected"] == 3000
    assert body["impact"]["failed_requests"] == 4500
    assert float(body["impact"]["revenue_impact"]) == 2000.0
    assert body["impact"]["sla_breach"] is True
    assert body["affected_services"] == ["auth"]
    assert body["url"].endswith(f"/incidents/{incident.pk}/")


def test_a_responder_declares_an_incident(client, team, responder):
    response = _post(
        client,
        BASE,
        responder,
        {"title": "Checkout down", "severity": "SEV1", "team": "platform"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    incident = Incident.objects.get(pk=body["id"])
    assert (incident.title, incident.severity.name, incident.team.slug) == (
        "Checkout down",
        "SEV1",
        "platform",
    )
    assert incident.declared_by == responder
    assert body["status"] == "triggered"
    assert incident.events.filter(kind=EventKind.DECLARED).count() == 1
    assert AuditEntry.objects.filter(action="incident.declare").count() == 1


def test_a_responder_posts_a_note(client, team, responder):
    incident = IncidentFactory(team=team)
    response = _post(
        client, f"{BASE}{incident.pk}/events", responder, {"body": "Error rate **15%**"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "note"
    assert "<strong>15%</strong>" in body["body_html"]
    assert body["author"]["username"] == "alex"
    event = TimelineEvent.objects.get(pk=body["id"])
    assert event.body == "Error rate **15%**"
    listed = _get(client, f"{BASE}{incident.pk}/events", responder).json()
    assert [e["id"] for e in listed] == [event.pk]


def test_a_note_can_be_backdated(client, team, responder):
    incident = IncidentFactory(team=team)
    earlier = timezone.now() - dt.timedelta(minutes=20)
    response = _post(
        client,
        f"{BASE}{incident.pk}/events",
        responder,
        {"body": "Deploy started", "occurred_at": earlier.isoformat()},
    )
    assert response.status_code == 201
    event = TimelineEvent.objects.get(pk=response.json()["id"])
    assert abs(event.occurred_at - earlier) < dt.timedelta(seconds=1)


def test_a_responder_moves_an_incident_through_its_lifecycle(client, team, responder):
    incident = IncidentFactory(team=team)
    for status in ("acknowledged", "mitigated", "resolved"):
        response = _post(client, f"{BASE}{incident.pk}/status", responder, {"status": status})
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status
        assert response.json()[f"{status}_at"].endswith("Z")
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert list(
        incident.events.filter(kind=EventKind.STATUS).values_list("data__to", flat=True)
    ) == ["acknowledged", "mitigated", "resolved"]


# --- permissions ------------------------------------------------------------------------------


def test_a_viewer_may_read_but_every_write_is_forbidden(client, team):
    viewer = member(team, Role.VIEWER)
    incident = IncidentFactory(team=team)
    assert _get(client, f"{BASE}{incident.pk}", viewer).status_code == 200
    declare = _post(client, BASE, viewer, {"title": "X", "severity": "SEV3", "team": "platform"})
    note = _post(client, f"{BASE}{incident.pk}/events", viewer, {"body": "hello"})
    status = _post(client, f"{BASE}{incident.pk}/status", viewer, {"status": "acknowledged"})
    assert (declare.status_code, note.status_code, status.status_code) == (403, 403, 403)
    assert "does not allow" in note.json()["detail"]
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert Incident.objects.count() == 1
    assert not incident.events.exists()


def test_another_teams_member_gets_404_for_a_private_incident(client, team):
    outsider = member(TeamFactory(slug="search"), Role.ADMIN)
    incident = IncidentFactory(team=team, is_private=True, title="Secret breach")
    public = IncidentFactory(team=team, title="Public outage")
    assert _get(client, f"{BASE}{incident.pk}", outsider).status_code == 404
    note = _post(client, f"{BASE}{incident.pk}/events", outsider, {"body": "hi"})
    assert note.status_code == 404
    status = _post(client, f"{BASE}{incident.pk}/status", outsider, {"status": "resolved"})
    assert status.status_code == 404
    listed = [i["title"] for i in _get(client, BASE, outsider).json()["results"]]
    assert listed == ["Public outage"]
    # A public incident of another team: readable, not writable.
    assert _post(client, f"{BASE}{public.pk}/events", outsider, {"body": "x"}).status_code == 403
    assert not TimelineEvent.objects.exists()


def test_the_team_sees_its_private_incident(client, team, responder):
    incident = IncidentFactory(team=team, is_private=True)
    assert _get(client, f"{BASE}{incident.pk}", responder).status_code == 200
    assert _get(client, BASE, responder).json()["count"] == 1


def test_a_vigil_admin_may_do_everything(client, team):
    admin = UserFactory(is_superuser=True, is_staff=True)
    incident = IncidentFactory(team=team, is_private=True)
    assert _get(client, f"{BASE}{incident.pk}", admin).status_code == 200
    assert _post(client, f"{BASE}{incident.pk}/events", admin, {"body": "on it"}).status_code == 201
    response = _post(client, f"{BASE}{incident.pk}/status", admin, {"status": "resolved"})
    assert response.status_code == 200
    declare = _post(client, BASE, admin, {"title": "Y", "severity": "SEV4", "team": "platform"})
    assert declare.status_code == 201


def test_an_unknown_incident_is_404(client, responder):
    assert _get(client, f"{BASE}999999", responder).status_code == 404


# --- bad input --------------------------------------------------------------------------------


def test_an_unknown_severity_is_refused_with_the_reason(client, team, responder):
    response = _post(
        client, BASE, responder, {"title": "X", "severity": "SEV9", "team": "platform"}
    )
    assert response.status_code == 400
    assert "Unknown severity 'SEV9'" in response.json()["detail"]
    assert "SEV1" in response.json()["detail"]
    assert Incident.objects.count() == 0


def test_an_unknown_team_is_refused_with_the_reason(client, responder):
    response = _post(client, BASE, responder, {"title": "X", "severity": "SEV2", "team": "nope"})
    assert response.status_code == 400
    assert "Unknown team 'nope'" in response.json()["detail"]
    assert Incident.objects.count() == 0


def test_a_declaration_without_a_title_is_400(client, team, responder):
    response = _post(client, BASE, responder, {"title": "", "severity": "SEV2", "team": "platform"})
    assert response.status_code == 400
    response = _post(client, BASE, responder, {"severity": "SEV2", "team": "platform"})
    assert response.status_code == 400
    assert Incident.objects.count() == 0


def test_a_body_that_is_not_json_is_400(client, team, responder):
    response = client.post(BASE, "{not json", content_type="application/json", **_auth(responder))
    assert response.status_code == 400
    assert Incident.objects.count() == 0


def test_unknown_filters_are_400(client, responder):
    assert _get(client, BASE, responder, severity="SEV7").status_code == 400
    assert _get(client, BASE, responder, status="sleeping").status_code == 400
    assert _get(client, BASE, responder, team="nope").status_code == 400
    assert _get(client, BASE, responder, page=0).status_code == 400


def test_a_note_over_20000_characters_is_refused(client, team, responder):
    incident = IncidentFactory(team=team)
    response = _post(client, f"{BASE}{incident.pk}/events", responder, {"body": "x" * 20_001})
    assert response.status_code == 400
    assert "20,000" in response.json()["detail"]
    assert not incident.events.exists()
    incident.refresh_from_db()
    assert incident.timeline_seq == 0


def test_a_note_dated_in_the_future_is_refused(client, team, responder):
    incident = IncidentFactory(team=team)
    later = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    response = _post(
        client, f"{BASE}{incident.pk}/events", responder, {"body": "soon", "occurred_at": later}
    )
    assert response.status_code == 400
    assert "future" in response.json()["detail"]
    assert not incident.events.exists()


def test_a_note_dated_before_2000_is_refused_and_nothing_is_written(client, team, responder):
    incident = IncidentFactory(team=team)
    response = _post(
        client,
        f"{BASE}{incident.pk}/events",
        responder,
        {"body": "long ago", "occurred_at": "0001-01-01T00:00:00+14:00"},
    )
    assert response.status_code == 400
    assert "before 2000-01-01" in response.json()["detail"]
    assert not incident.events.exists()


def test_an_empty_note_is_refused(client, team, responder):
    incident = IncidentFactory(team=team)
    response = _post(client, f"{BASE}{incident.pk}/events", responder, {"body": "   "})
    assert response.status_code == 400
    assert not incident.events.exists()


def test_a_resolved_incident_cannot_be_acknowledged(client, team, responder):
    incident = IncidentFactory(team=team)
    incident_change_status(incident=incident, status=Status.RESOLVED, by=responder)
    events_before = incident.events.count()
    response = _post(client, f"{BASE}{incident.pk}/status", responder, {"status": "acknowledged"})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "An incident that is resolved cannot be marked acknowledged."
    )
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert incident.acknowledged_at == incident.resolved_at
    assert incident.events.count() == events_before


def test_an_unknown_status_is_400(client, team, responder):
    incident = IncidentFactory(team=team)
    response = _post(client, f"{BASE}{incident.pk}/status", responder, {"status": "triggered"})
    assert response.status_code == 400
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


# --- OpenAPI ----------------------------------------------------------------------------------


def test_the_openapi_document_lists_the_incident_operations(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operations = {
        op["operationId"]: (method, path)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    assert operations["incident_list"] == ("get", "/api/v1/incidents/")
    assert operations["incident_declare"] == ("post", "/api/v1/incidents/")
    assert operations["incident_read"] == ("get", "/api/v1/incidents/{incident_id}")
    assert operations["incident_timeline_add"] == ("post", "/api/v1/incidents/{incident_id}/events")
    assert operations["incident_change_status"] == (
        "post",
        "/api/v1/incidents/{incident_id}/status",
    )
    schemes = document["components"]["securitySchemes"].values()
    assert any(scheme.get("scheme") == "bearer" for scheme in schemes)


def _sev(level):
    return Severity.objects.get(level=level)


def test_text_postgresql_cannot_store_and_huge_numbers_are_4xx_not_500(client, team, responder):
    incident = IncidentFactory(team=team)
    for params in ({"q": "a\x00b"}, {"team": "a\x00"}, {"page": 10**20}):
        assert _get(client, BASE, responder, **params).status_code == 400
    assert _get(client, f"{BASE}{10**20}", responder).status_code == 404
    events = _get(client, f"{BASE}{incident.pk}/events", responder, after_seq=10**25)
    assert events.status_code == 200
    declare = _post(
        client, BASE, responder, {"title": "a\x00", "severity": "SEV1", "team": "platform"}
    )
    note = _post(client, f"{BASE}{incident.pk}/events", responder, {"body": "a\x00b"})
    assert (declare.status_code, note.status_code) == (400, 400)
    assert "NUL" in json.dumps(note.json())
    bad_date = _post(
        client, f"{BASE}{incident.pk}/events", responder, {"body": "x", "occurred_at": "soon"}
    )
    assert bad_date.status_code == 400
    assert Incident.objects.count() == 1
    assert not incident.events.exists()


def test_the_api_docs_page_loads_swagger_from_our_static_files(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
