"""The status pages' Statuspage-v2 JSON, which status aggregators read: every endpoint in
Statuspage's shape, only public updates of incidents that are not private, the statuses a
known scenario gives, planned maintenance with its window, no sign-in, and a fixed number of
queries whatever the history's size.

The shape (tests/schemas/statuspage_v2.json) was written from these sources, read with the
search tool:
- Statuspage's own API pages, as every hosted page serves them: https://discordstatus.com/api/v2
  and https://status.chargebee.com/api (the endpoints; incident statuses investigating,
  identified, monitoring, resolved, postmortem; impacts none, minor, major, critical;
  component statuses; incidents.json is the 50 most recent; unresolved only investigating,
  identified or monitoring; scheduled-maintenances.json includes completed ones).
- MongoDB's OpenAPI reference of its Statuspage v2 page,
  https://www.mongodb.com/docs/api/doc/cloud-status/operation/operation-getstatussummary and
  .../operation-getoverallstatus (required keys, string ids, date-time timestamps, enums).
- Real answers kept as fixtures: hikari's service_status tests (Discord's summary, a group
  component with "group": true and "components": [ids], children with group_id, a scheduled
  maintenance with scheduled_for/scheduled_until and its incident_updates), Huobi's API docs
  (status-swap.huobigroup.com summary.json: affected_components with code, name, old_status,
  new_status; the "maintenance" indicator; scheduled, in progress, verifying, completed) and
  a GitHub status summary (start_date, showcase, only_show_if_degraded).
"""

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from incidents import services as incidents
from incidents.models import Severity
from status.models import Component, ComponentGroup, Maintenance, StatusPage
from status.services import status_update_post
from teams.models import Role
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "statuspage_v2.json").read_text())
REGISTRY = Registry().with_resource(SCHEMA["$id"], Resource.from_contents(SCHEMA))
FORMATS = FormatChecker()
OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


# jsonschema checks "date-time" and "uri" only with optional packages; these say the same.
@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value):
    if not isinstance(value, str):
        return True
    return bool(OFFSET.search(value)) and datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("uri", raises=ValueError)
def _is_uri(value):
    return not isinstance(value, str) or bool(re.match(r"^[a-z][a-z0-9+.-]*://\S+$", value))


def schema_errors(answer, name) -> list[str]:
    validator = Draft202012Validator(
        {"$ref": f"{SCHEMA['$id']}#/$defs/{name}"}, registry=REGISTRY, format_checker=FORMATS
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(answer)
    ]


# (URL name, the schema's answer for it)
ENDPOINTS = [
    ("status_api_summary", "summary"),
    ("status_api_status", "status_answer"),
    ("status_api_components", "components_answer"),
    ("status_api_incidents", "incidents_answer"),
    ("status_api_incidents_unresolved", "unresolved_answer"),
    ("status_api_maintenances", "scheduled_maintenances_answer"),
]
URL_NAMES = [name for name, _ in ENDPOINTS]


def url(name, slug=None) -> str:
    if slug is None:
        return reverse(name)
    return reverse(f"{name}_named", kwargs={"slug": slug})


def read(name, slug=None, client=None):
    response = (client or Client()).get(url(name, slug))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


@pytest.fixture
def team():
    return TeamFactory(slug="platform", name="Platform")


@pytest.fixture
def casey(team):
    return member(team, Role.RESPONDER, username="casey", first_name="Casey", last_name="Lee")


@pytest.fixture
def status_page(team):
    page = StatusPage.objects.create(slug="acme", title="Acme status", team=team, is_default=True)
    api = ComponentGroup.objects.create(page=page, name="API")
    Component.objects.create(page=page, group=api, name="Checkout API", position=1)
    Component.objects.create(page=page, group=api, name="Payments API", position=2)
    Component.objects.create(page=page, name="Dashboard", description="The web app", position=3)
    return page


def component(page, name) -> Component:
    return Component.objects.get(page=page, name=name)


def declare(team, by, **kwargs):
    return incidents.incident_declare(
        title="[CRITICAL] checkout-api 5xx on pod checkout-7f9c",
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=by,
        **kwargs,
    )


def post_public(incident, by, page, phase, body, **kwargs):
    return status_update_post(
        incident=incident, phase=phase, body=body, by=by, public=True, page=page, **kwargs
    )


def maintenance(page, name, starts_in, lasts, components=(), body=""):
    now = timezone.now()
    window = Maintenance.objects.create(
        page=page,
        name=name,
        body=body,
        starts_at=now + starts_in,
        ends_at=now + starts_in + lasts,
        created_at=now - timedelta(days=3),
    )
    window.components.set(components)
    return window


@pytest.fixture
def busy_page(team, casey, status_page):
    """An open incident naming two components, a resolved one, and maintenance before, during
    and after now."""
    checkout, payments = (
        component(status_page, "Checkout API"),
        component(status_page, "Payments API"),
    )
    open_one = declare(team, casey)
    post_public(
        open_one,
        casey,
        status_page,
        "investigating",
        "Some card payments fail.",
        name="Card payments failing",
        impact="major",
        components={checkout.pk: "partial_outage"},
    )
    post_public(
        open_one,
        casey,
        status_page,
        "monitoring",
        "A fix is out; we are watching.",
        components={checkout.pk: "degraded_performance", payments.pk: "operational"},
    )
    resolved = declare(team, casey)
    post_public(
        resolved, casey, status_page, "identified", "Slow dashboard.", name="Slow dashboard"
    )
    post_public(resolved, casey, status_page, "resolved", "All good again.")
    dashboard = component(status_page, "Dashboard")
    maintenance(status_page, "Database upgrade", timedelta(days=2), timedelta(hours=1), [checkout])
    maintenance(
        status_page, "Cache resize", -timedelta(minutes=10), timedelta(hours=1), [dashboard]
    )
    maintenance(status_page, "Old move", -timedelta(days=5), timedelta(hours=2), [payments])
    return status_page


# The shape.


@pytest.mark.parametrize("slug", [None, "acme"])
@pytest.mark.parametrize("name, answer", ENDPOINTS)
def test_every_endpoint_answers_in_statuspage_v2_shape(busy_page, name, answer, slug):
    assert schema_errors(read(name, slug), answer) == []


def test_the_schema_refuses_what_an_aggregator_could_not_read():
    good = {
        "page": {
            "id": "1",
            "name": "Acme status",
            "url": "http://testserver/status/",
            "time_zone": "UTC",
            "updated_at": "2026-12-03T06:00:00.000+00:00",
        },
        "status": {"indicator": "none", "description": "All Systems Operational"},
    }
    assert schema_errors(good, "status_answer") == []
    naive_time = json.loads(json.dumps(good))
    naive_time["page"]["updated_at"] = "2026-12-03T06:00:00"
    number_id = json.loads(json.dumps(good))
    number_id["page"]["id"] = 1
    unknown_indicator = json.loads(json.dumps(good))
    unknown_indicator["status"]["indicator"] = "down"
    for wrong in (naive_time, number_id, unknown_indicator, {"page": good["page"]}):
        assert schema_errors(wrong, "status_answer") != []


def test_the_page_says_its_name_address_and_time_zone_and_times_carry_its_offset(status_page):
    status_page.time_zone = "Europe/Paris"
    status_page.save()
    page = read("status_api_status")["page"]
    assert page["id"] == str(status_page.pk)
    assert page["name"] == "Acme status"
    assert page["url"] == "http://testserver/status/"
    assert page["time_zone"] == "Europe/Paris"
    assert page["updated_at"].endswith(("+01:00", "+02:00"))
    assert read("status_api_status", "acme")["page"]["url"] == "http://testserver/status/p/acme/"


def test_a_mistyped_time_zone_answers_in_utc_rather_than_failing(status_page):
    StatusPage.objects.filter(pk=status_page.pk).update(time_zone="Mars/Olympus")
    page = read("status_api_summary")["page"]
    assert page["time_zone"] == "UTC"
    assert page["updated_at"].endswith("+00:00")


def test_groups_are_components_listing_theirs_and_each_child_names_its_group(status_page):
    listed = read("status_api_components")["components"]
    by_name = {c["name"]: c for c in listed}
    group = by_name["API"]
    checkout, payments = by_name["Checkout API"], by_name["Payments API"]
    assert group["group"] is True and group["group_id"] is None
    assert group["components"] == [checkout["id"], payments["id"]]
    assert checkout["group_id"] == payments["group_id"] == group["id"]
    assert checkout["group"] is False and "components" not in checkout
    dashboard = by_name["Dashboard"]
    assert dashboard["group_id"] is None and dashboard["description"] == "The web app"
    assert dashboard["id"] == str(component(status_page, "Dashboard").pk)
    # Ungrouped first, then the group and its own, as the page shows them; no id twice.
    assert [c["name"] for c in listed] == ["Dashboard", "API", "Checkout API", "Payments API"]
    assert len({c["id"] for c in listed}) == len(listed)
    assert all(c["page_id"] == str(status_page.pk) for c in listed)


# What appears and what never does.


def test_a_public_update_shows_its_body_and_the_component_statuses_it_set(busy_page):
    answer = read("status_api_summary")
    [incident] = answer["incidents"]
    assert incident["name"] == "Card payments failing"
    assert incident["status"] == "monitoring" and incident["impact"] == "major"
    assert incident["monitoring_at"] is not None and incident["resolved_at"] is None
    newest, first = incident["incident_updates"]
    assert newest["body"] == "A fix is out; we are watching."
    assert first["body"] == "Some card payments fail."
    assert newest["incident_id"] == incident["id"]
    checkout = str(component(busy_page, "Checkout API").pk)
    payments = str(component(busy_page, "Payments API").pk)
    assert first["affected_components"] == [
        {
            "code": checkout,
            "name": "Checkout API",
            "old_status": "operational",
            "new_status": "partial_outage",
        }
    ]
    assert newest["affected_components"] == [
        {
            "code": checkout,
            "name": "Checkout API",
            "old_status": "partial_outage",
            "new_status": "degraded_performance",
        },
        {
            "code": payments,
            "name": "Payments API",
            "old_status": "operational",
            "new_status": "operational",
        },
    ]
    assert {c["id"]: c["status"] for c in incident["components"]} == {
        checkout: "degraded_performance",
        payments: "operational",
    }
    assert incident["shortlink"] == (f"http://testserver/status/incidents/{incident['id']}/")
    # Its own page answers at that link.
    assert Client().get(incident["shortlink"]).status_code == 200


def test_an_internal_update_never_leaves_vigil(team, casey, status_page):
    incident = declare(team, casey)
    post_public(incident, casey, status_page, "investigating", "We are looking.", name="Errors")
    status_update_post(
        incident=incident,
        phase="identified",
        body="Internal: bad deploy of checkout-7f9c, rolling back",
        by=casey,
    )
    for name in URL_NAMES:
        for slug in (None, "acme"):
            text = Client().get(url(name, slug)).content.decode()
            assert "rolling back" not in text
            assert "checkout-7f9c" not in text  # nor the internal title
    [listed] = read("status_api_incidents")["incidents"]
    assert [u["body"] for u in listed["incident_updates"]] == ["We are looking."]
    assert listed["status"] == "investigating"


def test_a_private_incident_never_appears_even_after_a_public_update(team, casey, status_page):
    checkout = component(status_page, "Checkout API")
    incident = declare(team, casey)
    post_public(
        incident,
        casey,
        status_page,
        "investigating",
        "Payments are failing for some.",
        name="Payment failures",
        impact="critical",
        components={checkout.pk: "major_outage"},
    )
    assert read("status_api_status")["status"]["indicator"] == "critical"
    incident.is_private = True
    incident.save(update_fields=["is_private"])
    for name in URL_NAMES:
        text = Client().get(url(name)).content.decode()
        assert "Payment failures" not in text and "Payments are failing" not in text
    summary = read("status_api_summary")
    assert summary["incidents"] == []
    assert read("status_api_incidents")["incidents"] == []
    assert {c["status"] for c in summary["components"]} == {"operational"}
    assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}


def test_incidents_lists_resolved_ones_and_unresolved_only_the_open(busy_page):
    listed = read("status_api_incidents")["incidents"]
    assert [i["name"] for i in listed] == ["Slow dashboard", "Card payments failing"]
    resolved = listed[0]
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    assert [u["status"] for u in resolved["incident_updates"]] == ["resolved", "identified"]
    unresolved = read("status_api_incidents_unresolved")["incidents"]
    assert [i["name"] for i in unresolved] == ["Card payments failing"]


def test_incidents_lists_the_fifty_most_recent(team, casey, status_page):
    incident = declare(team, casey)
    post_public(incident, casey, status_page, "investigating", "First.", name="The oldest")
    for n in range(50):
        newer = declare(team, casey)
        post_public(newer, casey, status_page, "investigating", "More.", name=f"Incident {n}")
    listed = read("status_api_incidents")["incidents"]
    assert len(listed) == 50
    assert "The oldest" not in [i["name"] for i in listed]
    assert listed[0]["name"] == "Incident 49"


# Statuses.


def test_one_component_in_major_outage_makes_the_indicator_major(team, casey, status_page):
    checkout = component(status_page, "Checkout API")
    incident = declare(team, casey)
    post_public(
        incident,
        casey,
        status_page,
        "identified",
        "Checkout is down.",
        name="Checkout down",
        impact="minor",
        components={checkout.pk: "major_outage"},
    )
    assert read("status_api_status")["status"] == {
        "indicator": "major",
        "description": "Partial System Outage",
    }
    statuses = {c["name"]: c["status"] for c in read("status_api_components")["components"]}
    assert statuses == {
        "Dashboard": "operational",
        "API": "major_outage",  # a group is as bad as its worst component
        "Checkout API": "major_outage",
        "Payments API": "operational",
    }
    post_public(incident, casey, status_page, "resolved", "Checkout is back.")
    answer = read("status_api_summary")
    assert answer["status"]["indicator"] == "none"
    assert {c["status"] for c in answer["components"]} == {"operational"}


def test_a_page_with_nothing_wrong_is_all_systems_operational(status_page):
    answer = read("status_api_summary")
    assert answer["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert answer["incidents"] == [] and answer["scheduled_maintenances"] == []


# Planned maintenance.


def test_a_scheduled_maintenance_appears_with_its_window_and_status(busy_page):
    summary = read("status_api_summary")
    upcoming = {m["name"]: m for m in summary["scheduled_maintenances"]}
    assert set(upcoming) == {"Database upgrade", "Cache resize"}  # not the completed one
    planned = Maintenance.objects.get(name="Database upgrade")
    upgrade = upcoming["Database upgrade"]
    assert upgrade["status"] == "scheduled" and upgrade["impact"] == "maintenance"
    assert datetime.fromisoformat(upgrade["scheduled_for"]) == planned.starts_at.replace(
        microsecond=planned.starts_at.microsecond // 1000 * 1000
    )
    assert datetime.fromisoformat(upgrade["scheduled_until"]) - datetime.fromisoformat(
        upgrade["scheduled_for"]
    ) == timedelta(hours=1)
    assert [c["name"] for c in upgrade["components"]] == ["Checkout API"]
    [announcement] = upgrade["incident_updates"]
    assert announcement["affected_components"][0]["new_status"] == "under_maintenance"
    assert upcoming["Cache resize"]["status"] == "in_progress"
    statuses = {c["name"]: c["status"] for c in summary["components"]}
    assert statuses["Dashboard"] == "under_maintenance"
    every = read("status_api_maintenances")["scheduled_maintenances"]
    assert [(m["name"], m["status"]) for m in every] == [
        ("Database upgrade", "scheduled"),
        ("Cache resize", "in_progress"),
        ("Old move", "completed"),
    ]
    assert every[2]["resolved_at"] is not None


def test_maintenance_alone_says_service_under_maintenance(status_page):
    dashboard = component(status_page, "Dashboard")
    maintenance(status_page, "Cache resize", -timedelta(minutes=5), timedelta(hours=1), [dashboard])
    assert read("status_api_status")["status"] == {
        "indicator": "maintenance",
        "description": "Service Under Maintenance",
    }


def test_a_cancelled_maintenance_is_not_listed(status_page):
    window = maintenance(status_page, "Called off", timedelta(days=1), timedelta(hours=1))
    window.cancelled_at = timezone.now()
    window.save()
    assert read("status_api_maintenances")["scheduled_maintenances"] == []


# Who may read, and how.


@pytest.mark.parametrize("name", URL_NAMES)
def test_anyone_reads_it_without_signing_in_from_any_origin(status_page, name):
    response = Client().get(url(name), HTTP_ORIGIN="https://aggregator.example")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert set(response["Cache-Control"].split(", ")) == {"public", "max-age=5"}


def test_each_page_answers_for_itself(team, casey, status_page):
    other = StatusPage.objects.create(slug="billing", title="Billing status", team=team)
    Component.objects.create(page=other, name="Invoices")
    incident = declare(team, casey)
    post_public(incident, casey, other, "investigating", "Invoices are late.", name="Late invoices")
    billing = read("status_api_summary", "billing")
    assert billing["page"]["name"] == "Billing status"
    assert [c["name"] for c in billing["components"]] == ["Invoices"]
    assert [i["name"] for i in billing["incidents"]] == ["Late invoices"]
    default = read("status_api_summary")
    assert default["page"]["name"] == "Acme status" and default["incidents"] == []


@pytest.mark.parametrize("name", URL_NAMES)
def test_an_unknown_page_is_a_json_404(status_page, name):
    response = Client().get(url(name, "no-such-page"))
    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "No such status page."}
    assert response["Access-Control-Allow-Origin"] == "*"


def test_without_any_page_the_default_address_is_a_json_404(db):
    response = Client().get(url("status_api_summary"))
    assert response.status_code == 404
    assert response.json()["code"] == 404


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
@pytest.mark.parametrize("name", URL_NAMES)
def test_only_get_and_head_are_allowed(status_page, name, method):
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(url(name, "acme"))
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["code"] == 405
    assert client.head(url(name, "acme")).status_code == 200


def test_an_odd_query_string_is_ignored(status_page):
    response = Client().get(url("status_api_incidents"), {"limit": "9" * 40, "page": "x"})
    assert response.status_code == 200
    assert response.json()["incidents"] == []


# Queries.


def test_summary_and_incidents_read_as_many_queries_at_n_as_at_10n_incidents(
    team, casey, status_page, django_assert_num_queries
):
    checkout = component(status_page, "Checkout API")
    dashboard = component(status_page, "Dashboard")

    def add(count):
        for n in range(count):
            incident = declare(team, casey)
            post_public(
                incident,
                casey,
                status_page,
                "investigating",
                f"Update {n}.",
                name=f"Incident {n}",
                components={checkout.pk: "partial_outage"},
            )
            post_public(
                incident,
                casey,
                status_page,
                "identified" if n % 2 else "resolved",
                "Found it.",
                components={dashboard.pk: "degraded_performance"},
            )
            maintenance(
                status_page, f"Window {n}", timedelta(days=n + 1), timedelta(hours=1), [dashboard]
            )

    add(3)
    with CaptureQueriesContext(connection) as at_n:
        first = read("status_api_summary")
    with CaptureQueriesContext(connection) as listing_at_n:
        read("status_api_incidents")
    add(27)
    with django_assert_num_queries(len(at_n.captured_queries)):
        tenfold = read("status_api_summary")
    assert len(tenfold["incidents"]) > len(first["incidents"]) > 0
    assert len(tenfold["scheduled_maintenances"]) == 30
    with django_assert_num_queries(len(listing_at_n.captured_queries)):
        assert len(read("status_api_incidents")["incidents"]) == 30
