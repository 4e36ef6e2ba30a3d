"""The database refusing for now answers 503 with Retry-After, never 500, and changes
nothing: here a real lock held by another PostgreSQL session while the request waits at most
100 ms for it (lock_timeout)."""

import psycopg
import pytest
from django.db import connection
from django.urls import reverse

from accounts.tokens import api_token_create
from incidents.models import Incident, Severity, Status
from teams.models import Role
from tests.factories import IncidentFactory, TeamFactory, member

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def locked_incident():
    team = TeamFactory()
    responder = member(team, Role.RESPONDER, username="rosa")
    incident = IncidentFactory(team=team, severity=Severity.objects.get(name="SEV2"))
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    other = psycopg.connect(**params)
    other.execute("SELECT id FROM incidents_incident WHERE id = %s FOR UPDATE", [incident.pk])
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '100ms'")
    try:
        yield incident, responder, other
    finally:
        other.rollback()
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def test_a_page_waiting_on_a_locked_row_gets_503_and_can_send_again(client, locked_incident):
    incident, responder, other = locked_incident
    client.force_login(responder)
    url = reverse("incident_severity", args=[incident.pk])

    response = client.post(url, {"severity": "SEV1"}, HTTP_ACCEPT="text/html")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Try again in a few seconds" in response.content.decode()
    assert "nothing was changed" in response.content.decode()
    other.rollback()  # the other session lets go
    assert Incident.objects.get(pk=incident.pk).severity.name == "SEV2"
    assert client.post(url, {"severity": "SEV1"}, HTTP_ACCEPT="text/html").status_code in (
        200,
        302,
    )
    assert Incident.objects.get(pk=incident.pk).severity.name == "SEV1"


def test_the_api_waiting_on_a_locked_row_gets_503_json(client, locked_incident):
    incident, responder, _other = locked_incident
    _, raw = api_token_create(user=responder, name="cli")

    response = client.post(
        f"/api/v1/incidents/{incident.pk}/status",
        {"status": "acknowledged"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "detail": "The database is busy or unreachable right now; nothing was changed. Try again."
    }
    assert Incident.objects.get(pk=incident.pk).status == Status.TRIGGERED


def test_sqlites_operational_error_for_bad_sql_stays_a_bug_not_a_wait(rf):
    """SQLite raises OperationalError for a syntax error too: that is a 500 to fix, while
    its "database is locked" is a wait like PostgreSQL's."""
    import sqlite3

    from django.db import OperationalError

    from common.middleware import DatabaseUnavailableMiddleware

    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    request = rf.get("/", HTTP_ACCEPT="text/html")

    def raised(cause):
        try:
            raise OperationalError(str(cause)) from cause
        except OperationalError as exc:
            return exc

    assert middleware.process_exception(request, raised(sqlite3.OperationalError("near x"))) is None
    locked = middleware.process_exception(
        request, raised(sqlite3.OperationalError("database is locked"))
    )
    assert locked.status_code == 503
