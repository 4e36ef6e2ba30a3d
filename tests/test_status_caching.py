"""The public pages are served from the cache while nothing changes, and show a change at
once: every write to what they show moves the cache's generation on."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.models import Severity
from incidents.services import incident_declare
from status.models import Component, StatusPage
from status.services import status_update_post
from teams.models import Role
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def status_page():
    team = TeamFactory(slug="platform")
    status_page = StatusPage.objects.create(slug="acme", title="Acme", team=team, is_default=True)
    Component.objects.create(page=status_page, name="Checkout API")
    status_page.by = member(team, Role.RESPONDER, username="casey")
    return status_page


def reads(client, path, **headers):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, headers=headers)
    assert response.status_code == 200
    return response, len(queries)


@pytest.mark.parametrize("path", ["/status/", "/status/api/v2/summary.json"])
def test_a_second_read_costs_no_query_and_a_new_update_shows_at_once(client, status_page, path):
    first, first_queries = reads(client, path)
    again, queries = reads(client, path)
    assert first_queries > 0 and queries == 0
    assert again.content == first.content
    assert again["Cache-Control"] == first["Cache-Control"]
    assert again["Content-Type"] == first["Content-Type"]

    incident = incident_declare(
        title="internal",
        severity=Severity.objects.get(name="SEV2"),
        team=status_page.team,
        by=status_page.by,
    )
    status_update_post(
        incident=incident,
        phase="investigating",
        body="Checkout is slow.",
        by=status_page.by,
        public=True,
        page=status_page,
        name="Slow checkout",
    )
    fresh, queries = reads(client, path)
    assert queries > 0 and b"Slow checkout" in fresh.content


def test_each_host_and_address_has_its_own_answer_and_zero_seconds_turns_it_off(
    client, status_page, settings
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "status.example.com"]
    reads(client, "/status/api/v2/status.json")
    _, queries = reads(client, "/status/api/v2/status.json", host="status.example.com")
    assert queries > 0  # the page's absolute URL differs by host
    settings.STATUS_PAGE_CACHE_SECONDS = 0
    _, queries = reads(client, "/status/api/v2/status.json")
    assert queries > 0


def test_a_cache_that_is_down_fails_no_write_and_the_page_answers_uncached(
    client, status_page, settings
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    # Django drops its cache connections when CACHES changes, and again afterwards.
    incident = incident_declare(
        title="internal",
        severity=Severity.objects.get(name="SEV2"),
        team=status_page.team,
        by=status_page.by,
    )
    status_update_post(
        incident=incident,
        phase="investigating",
        body="Checkout is slow.",
        by=status_page.by,
        public=True,
        page=status_page,
        name="Slow checkout",
    )
    response = client.get("/status/api/v2/summary.json")
    assert response.status_code == 200 and b"Slow checkout" in response.content
