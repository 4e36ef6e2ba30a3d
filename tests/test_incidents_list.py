"""The incident list: open first, filters that live in the URL, HTMX partials; severity admin."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from incidents import selectors, services
from incidents.models import Incident, Severity, Status
from incidents.selectors import incident_list_for_user
from teams.models import Role
from tests.factories import TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def alex(team):
    return member(team, Role.RESPONDER, username="alex")


@pytest.fixture
def client(alex):
    client = Client()
    client.force_login(alex)
    return client


def declare(title, sev, team, by, status=None):
    incident = services.incident_declare(
        title=title, severity=Severity.objects.get(name=sev), team=team, by=by
    )
    if status:
        services.incident_change_status(incident=incident, status=status, by=by)
    return incident


def titles(html):
    return [line.split(">")[1].split("<")[0] for line in html.split('class="incident-link"')[1:]]


def test_open_incidents_come_first_most_severe_first(team, alex, client, time_machine):
    time_machine.move_to(timezone.now() - timedelta(hours=3), tick=False)
    declare("Old resolved SEV1", "SEV1", team, alex, Status.RESOLVED)
    time_machine.move_to(timezone.now() + timedelta(hours=1), tick=False)
    declare("Open SEV3", "SEV3", team, alex)
    time_machine.move_to(timezone.now() + timedelta(hours=1), tick=False)
    declare("Open SEV2", "SEV2", team, alex, Status.ACKNOWLEDGED)
    html = client.get(reverse("incident_list")).content.decode()
    assert titles(html) == ["Open SEV2", "Open SEV3", "Old resolved SEV1"]
    html = client.get(reverse("incident_list") + "?sort=newest").content.decode()
    assert titles(html) == ["Open SEV2", "Open SEV3", "Old resolved SEV1"]
    html = client.get(reverse("incident_list") + "?sort=oldest").content.decode()
    assert titles(html) == ["Old resolved SEV1", "Open SEV3", "Open SEV2"]
    html = client.get(reverse("incident_list") + "?sort=severity").content.decode()
    assert titles(html)[0] == "Old resolved SEV1"


def test_filters_by_status_severity_team_and_text(team, alex, client):
    other = TeamFactory(slug="payments", name="Payments")
    declare("Checkout slow", "SEV2", team, alex)
    declare("Login broken", "SEV1", team, alex, Status.RESOLVED)
    services.incident_declare(
        title="Card declines", severity=Severity.objects.get(name="SEV3"), team=other, by=None
    )
    get = lambda q: titles(client.get(reverse("incident_list") + q).content.decode())  # noqa: E731
    assert get("?status=open") == ["Checkout slow", "Card declines"]
    assert get("?status=resolved") == ["Login broken"]
    assert get("?severity=SEV1") == ["Login broken"]
    assert get("?team=payments") == ["Card declines"]
    assert get("?q=login") == ["Login broken"]
    assert get("?q=checkout&status=open&team=platform") == ["Checkout slow"]
    assert sorted(get("?severity=SEV9&status=nonsense")) == sorted(  # unknown values are ignored
        ["Checkout slow", "Login broken", "Card declines"]
    )


def test_an_htmx_filter_request_gets_only_the_results_and_the_url_is_shareable(team, alex, client):
    declare("Checkout slow", "SEV2", team, alex)
    response = client.get(reverse("incident_list") + "?q=checkout", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="incident-results">')
    assert "<html" not in html and "Checkout slow" in html
    assert "HX-Request" in response["Vary"]
    page = client.get(reverse("incident_list") + "?q=checkout&severity=SEV2").content.decode()
    assert 'value="checkout"' in page
    assert '<option value="SEV2" selected>' in page
    assert 'hx-push-url="true"' in page


def test_the_list_is_paginated_and_keeps_its_filters_across_pages(team, alex, client):
    for i in range(30):
        declare(f"Disk full {i}", "SEV4", team, alex)
    html = client.get(reverse("incident_list") + "?q=disk").content.decode()
    assert len(titles(html)) == 25
    assert "Page 1 of 2" in html
    assert "?q=disk&amp;page=2" in html
    html = client.get(reverse("incident_list") + "?q=disk&page=2").content.decode()
    assert len(titles(html)) == 5


def test_column_headers_sort_one_way_then_the_other_and_keep_the_filters(team, alex, client):
    declare("Beta", "SEV3", team, alex)
    declare("Alpha", "SEV1", team, alex)
    declare("Gamma", "SEV2", team, alex)
    get = lambda q: client.get(reverse("incident_list") + q).content.decode()  # noqa: E731
    assert titles(get("?sort=title")) == ["Alpha", "Beta", "Gamma"]
    assert titles(get("?sort=title_desc")) == ["Gamma", "Beta", "Alpha"]
    assert titles(get("?sort=severity")) == ["Alpha", "Gamma", "Beta"]
    assert titles(get("?sort=least_severe")) == ["Beta", "Gamma", "Alpha"]

    html = get("?q=a&sort=title")
    assert (
        '<th scope="col" class="sortable" aria-sort="ascending"><a href="?q=a&amp;sort=title_desc"'
        in html
    )
    assert '<th scope="col" class="sortable"><a href="?q=a&amp;sort=severity"' in html
    assert '<th scope="col" class="sortable"><a href="?q=a&amp;sort=newest"' in html
    html = get("?sort=oldest&page=1")  # a header link starts again at page 1
    assert 'aria-sort="ascending"><a href="?sort=newest"' in html
    html = get("")  # the default "open first" order marks no column as sorted
    assert "aria-sort" not in html


def test_an_htmx_sort_also_updates_the_sort_menu_out_of_band(team, alex, client):
    declare("Checkout slow", "SEV2", team, alex)
    html = client.get(
        reverse("incident_list") + "?sort=title_desc", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<select id="incident-sort" name="sort" hx-swap-oob="true">' in html
    assert '<option value="title_desc" selected>' in html
    page = client.get(reverse("incident_list") + "?sort=title_desc").content.decode()
    assert "hx-swap-oob" not in page and page.count('id="incident-sort"') == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="trigram indexes exist on PostgreSQL only"
)
def test_text_search_reads_the_trigram_indexes_on_postgresql(team, alex):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'incidents_incident'"
            " AND indexname LIKE '%%trgm'"
        )
        assert sorted(r[0] for r in cursor.fetchall()) == [
            "incident_summary_trgm",
            "incident_title_trgm",
        ]
    sev, now = Severity.objects.get(name="SEV3"), timezone.now()
    Incident.objects.bulk_create(
        Incident(
            title=f"Queue backlog {n}",
            summary="Workers behind",
            severity=sev,
            team=team,
            started_at=now,
        )
        for n in range(20_000)
    )
    with connection.cursor() as cursor:
        # New rows wait in the GIN indexes' pending lists until a vacuum merges them; merge
        # them now, as autovacuum does in a running system.
        for name in ("incident_title_trgm", "incident_summary_trgm"):
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [name])
        cursor.execute("ANALYZE incidents_incident")
    plan = incident_list_for_user(user=alex, text="zeppelin", sort="newest").qs.explain()
    assert "incident_title_trgm" in plan and "incident_summary_trgm" in plan, plan


@pytest.mark.parametrize("sort", ["open", "title", "newest", "least_severe"])
def test_past_the_cap_the_list_says_more_than_instead_of_counting_everything(
    team, alex, client, monkeypatch, sort
):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    declare("Open one", "SEV2", team, alex)
    for n in range(4):
        declare(f"Resolved {n}", "SEV3", team, alex, Status.RESOLVED)
    html = client.get(reverse("incident_list") + f"?sort={sort}").content.decode()
    # Open first: the open one plus at most 3 resolved; sorted: at most 3 in all.
    assert f"More than {4 if sort == 'open' else 3} incidents" in html
    assert len(titles(html)) == (4 if sort == "open" else 3)
    html = client.get(reverse("incident_list") + f"?sort={sort}&q=resolved+1").content.decode()
    assert "1 incident<" in html and "More than" not in html


def test_a_viewer_is_not_offered_the_declare_button(team):
    viewer = member(team, Role.VIEWER, username="casey")
    client = Client()
    client.force_login(viewer)
    assert "Declare incident" not in client.get(reverse("incident_list")).content.decode()
    page = client.get(reverse("incident_declare")).content.decode()
    assert "not a responder in any team" in page


def test_an_admin_edits_a_severitys_wording_and_policy_and_it_is_audited():
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin)
    sev2 = Severity.objects.get(name="SEV2")
    path = reverse("admin:incidents_severity_change", args=[sev2.pk])
    assert client.get(path).status_code == 200
    response = client.post(
        path,
        {
            "title": "Major degradation",
            "description": "More than 10% of users affected.",
            "pages": "on",
            "update_cadence_minutes": "20",
        },
    )
    assert response.status_code == 302
    sev2.refresh_from_db()
    assert sev2.update_cadence_minutes == 20 and sev2.name == "SEV2"
    entry = AuditEntry.objects.get(action="admin.change", object_type="incidents.severity")
    assert entry.after["update_cadence_minutes"] == "20"
    assert client.get(reverse("admin:incidents_severity_add")).status_code == 403
    for model in ["incident", "timelineevent", "timelineeventrevision", "checklistitem"]:
        assert client.get(reverse(f"admin:incidents_{model}_changelist")).status_code == 200
