"""The 90 days of uptime, checked by hand: real hours across a clock change, overlapping
incidents and windows counted once, and nothing counted before a component existed."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from incidents import services as incidents
from incidents.models import Severity
from status.models import (
    Component,
    ComponentImpact,
    Maintenance,
    PublicIncident,
    StatusPage,
    StatusUpdate,
)
from status.selectors import history, maintenances, public_incidents
from teams.models import Role
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def status_page():
    team = TeamFactory(slug="platform")
    status_page = StatusPage.objects.create(
        slug="acme", title="Acme", team=team, time_zone="Europe/Berlin"
    )
    status_page.by = member(team, Role.RESPONDER, username="casey")
    return status_page


def component(status_page, name="API", created=NOW - timedelta(days=400)):
    return Component.objects.create(page=status_page, name=name, created_at=created)


def outage(status_page, components, since, until, status="major_outage"):
    """A public incident that set `components` to `status` at `since`, resolved at `until`."""
    incident = incidents.incident_declare(
        title="internal",
        severity=Severity.objects.get(name="SEV2"),
        team=status_page.team,
        by=status_page.by,
    )
    public = PublicIncident.objects.create(
        page=status_page, incident=incident, name="Outage", created_at=since, resolved_at=until
    )
    update = StatusUpdate.objects.create(
        incident=incident,
        public_incident=public,
        phase="investigating",
        body="x",
        is_public=True,
        posted_at=since,
    )
    ComponentImpact.objects.bulk_create(
        ComponentImpact(update=update, component=c, status=status) for c in components
    )
    StatusUpdate.objects.create(
        incident=incident,
        public_incident=public,
        phase="resolved",
        body="y",
        is_public=True,
        posted_at=until,
    )


def read(status_page, components):
    return history(
        page=status_page,
        components=components,
        incidents=public_incidents(page=status_page),
        maintenances_=maintenances(page=status_page),
        now=NOW,
    )


def test_a_clock_change_night_counts_its_real_hours(status_page):
    api = component(status_page)
    # From Saturday 24 Oct 00:00 to Monday 26 Oct 00:00 in Berlin: 49 real hours, because
    # the clocks went back an hour on Sunday 25 Oct.
    since = datetime(2026, 10, 24, tzinfo=BERLIN)
    until = datetime(2026, 10, 26, tzinfo=BERLIN)
    outage(status_page, [api], since, until)
    (row,) = read(status_page, [api])
    by_date = {d.date.isoformat(): d for d in row.days}
    assert by_date["2026-10-24"].seconds == {"major_outage": 24 * 3600}
    assert by_date["2026-10-25"].seconds == {"major_outage": 25 * 3600}
    assert "2026-10-26" in by_date and by_date["2026-10-26"].seconds == {}
    assert sum(d.down_seconds for d in row.days) == 49 * 3600


def test_overlapping_incidents_and_a_window_count_once_with_the_worst_status(status_page):
    api = component(status_page)
    since = NOW - timedelta(days=12)
    outage(status_page, [api], since, since + timedelta(minutes=144))
    outage(status_page, [api], since, since + timedelta(minutes=144), status="partial_outage")
    window = Maintenance.objects.create(
        page=status_page, name="DB upgrade", starts_at=since, ends_at=since + timedelta(minutes=200)
    )
    window.components.add(api)
    (row,) = read(status_page, [api])
    day = next(d for d in row.days if d.seconds)
    assert day.seconds == {"major_outage": 144 * 60, "under_maintenance": 56 * 60}
    assert day.worst == "major_outage"
    total = (NOW - datetime(2026, 9, 4, tzinfo=BERLIN)).total_seconds()
    assert row.uptime == pytest.approx(100 * (1 - 144 * 60 / total))
    assert row.uptime_text == "99.89%"


def test_nothing_counts_before_the_component_was_on_the_page(status_page):
    api = component(status_page, created=NOW - timedelta(days=1))
    outage(status_page, [api], NOW - timedelta(days=12), NOW - timedelta(days=11))
    outage(status_page, [api], NOW - timedelta(hours=6), NOW - timedelta(hours=3))
    (row,) = read(status_page, [api])
    # Three hours down in the 24 hours it existed.
    assert row.uptime == pytest.approx(100 * (1 - 3 / 24))
    assert row.days[0].label == "No data: the component was not on the page yet"
    assert row.days[-1].seconds == {"major_outage": 3 * 3600}
