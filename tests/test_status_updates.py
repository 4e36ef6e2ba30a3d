"""Status updates written from templates: internal or public, the components' statuses they
set, the timeline, the checklist and the audit; a team's own wording; nothing half-written
when a part is refused."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from incidents import services as incidents
from incidents.models import ChecklistFact, ChecklistItem, EventKind, Severity, TimelineEvent
from status.models import (
    Component,
    ComponentGroup,
    ComponentImpact,
    PublicIncident,
    StatusPage,
    StatusUpdate,
    UpdateTemplate,
)
from status.services import StatusError, status_update_post, template_save, templates_for
from status.wording import DEFAULTS, fill, values_for
from teams.models import Role
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db


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
    Component.objects.create(page=page, group=api, name="Checkout API")
    Component.objects.create(page=page, name="Dashboard")
    return page


def declare(team, by, **kwargs):
    incident = incidents.incident_declare(
        title="[CRITICAL] checkout-api 5xx on pod checkout-7f9c",
        severity=Severity.objects.get(name="SEV1"),
        team=team,
        by=by,
        **kwargs,
    )
    incident.summary = "Card payments fail for about 30% of checkouts"
    incident.affected_services = ["checkout-api"]
    incident.started_at = timezone.now() - timedelta(minutes=12)
    incident.save(update_fields=["summary", "affected_services", "started_at"])
    return incident


def component(page, name):
    return Component.objects.get(page=page, name=name)


# The words.


def test_the_default_templates_are_filled_from_the_incident(team, casey):
    incident = declare(team, casey)
    values = values_for(incident=incident)
    text = fill(DEFAULTS["investigating"], values)
    assert "Card payments fail for about 30% of checkouts" in text
    assert "checkout-api" in text
    started = incident.started_at.astimezone(timezone.get_current_timezone())
    assert started.strftime("%H:%M") in text
    # SEV1's cadence: the next update 15 minutes from now.
    assert values["next_update_at"] == (
        (timezone.now() + timedelta(minutes=15)).astimezone(timezone.get_current_timezone())
    ).strftime("%H:%M %Z")


def test_a_teams_own_template_replaces_the_default_and_an_empty_one_restores_it(team):
    manager = member(team, Role.MANAGER, username="morgan")
    template_save(team=team, phase="identified", body="Cause found: {impact}.", by=manager)
    assert templates_for(team=team)["identified"] == "Cause found: {impact}."
    assert templates_for(team=team)["monitoring"] == DEFAULTS["monitoring"]
    template_save(team=team, phase="identified", body="  ", by=manager)
    assert templates_for(team=team)["identified"] == DEFAULTS["identified"]
    assert not UpdateTemplate.objects.exists()
    actions = list(AuditEntry.objects.values_list("action", flat=True).order_by("id"))
    assert actions[-2:] == ["status.template_save", "status.template_reset"]


@pytest.mark.parametrize(
    "body, reason",
    [
        ("Next at {next_update}", "Unknown placeholder {next_update}"),
        ("Broken {impact", "stray brace"),
        ("{impact.__class__}", "Unknown placeholder"),
        ("{impact!r}", "Unknown placeholder"),
    ],
)
def test_a_template_with_an_unknown_or_broken_placeholder_is_refused(team, body, reason):
    manager = member(team, Role.MANAGER, username="morgan")
    with pytest.raises(StatusError, match=reason.replace("{", r"\{").replace("}", r"\}")):
        template_save(team=team, phase="identified", body=body, by=manager)
    assert not UpdateTemplate.objects.exists()


# Posting.


def test_an_internal_update_goes_on_the_timeline_only(team, casey, status_page):
    incident = declare(team, casey)
    update = status_update_post(
        incident=incident, phase="investigating", body="Looking at the pods.", by=casey
    )
    assert not update.is_public and update.public_incident is None
    event = TimelineEvent.objects.get(pk=update.timeline_event_id)
    assert event.kind == EventKind.COMMS
    assert "internal" in event.body and "Looking at the pods." in event.body
    assert event.data["public"] is False
    assert not PublicIncident.objects.exists()
    status_item = ChecklistItem.objects.get(incident=incident, fact=ChecklistFact.STATUS_PAGE)
    assert status_item.done_at is None


def test_a_public_update_sets_components_ticks_the_checklist_and_is_audited(
    team, casey, status_page
):
    incident = declare(team, casey)
    api = component(status_page, "Checkout API")
    update = status_update_post(
        incident=incident,
        phase="investigating",
        body="Some card payments fail; we are on it.",
        by=casey,
        public=True,
        page=status_page,
        name="Card payments failing",
        impact="major",
        components={api.pk: "partial_outage"},
    )
    public = update.public_incident
    assert (public.name, public.impact, public.phase) == (
        "Card payments failing",
        "major",
        "investigating",
    )
    assert list(update.impacts.values_list("component__name", "status")) == [
        ("Checkout API", "partial_outage")
    ]
    event = TimelineEvent.objects.get(pk=update.timeline_event_id)
    assert "public, on Acme status" in event.body
    assert "Checkout API partial outage" in event.body
    status_item = ChecklistItem.objects.get(incident=incident, fact=ChecklistFact.STATUS_PAGE)
    assert status_item.done_at is not None
    entry = AuditEntry.objects.get(action="status.update_public")
    assert entry.after["components"] == {"Checkout API": "partial_outage"}

    # The next update keeps the public title unless it is given; resolved closes it.
    later = status_update_post(
        incident=incident,
        phase="resolved",
        body="Fixed.",
        by=casey,
        public=True,
        page=status_page,
        components={api.pk: "operational"},
    )
    public.refresh_from_db()
    assert later.public_incident_id == public.pk
    assert public.name == "Card payments failing"
    assert public.phase == "resolved" and public.resolved_at is not None


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"page": None}, "Say which status page"),
        ({"name": ""}, "needs a public title"),
        ({"body": "   "}, "needs some text"),
        ({"body": "x" * 5001}, "at most 5000"),
        ({"phase": "fixed"}, "Unknown phase"),
        ({"impact": "huge"}, "Unknown impact"),
        ({"components": {"api": "on_fire"}}, "Unknown component status"),
        ({"components": {999999: "major_outage"}}, "is not on the page"),
    ],
)
def test_a_refused_public_update_writes_nothing(team, casey, status_page, change, reason):
    incident = declare(team, casey)
    api = component(status_page, "Checkout API")
    kwargs = {
        "incident": incident,
        "phase": "investigating",
        "body": "Some card payments fail.",
        "by": casey,
        "public": True,
        "page": status_page,
        "name": "Card payments failing",
        "components": {api.pk: "partial_outage"},
    }
    if change.get("components") == {"api": "on_fire"}:
        change = {"components": {api.pk: "on_fire"}}
    kwargs.update(change)
    events = TimelineEvent.objects.filter(incident=incident).count()
    with pytest.raises(StatusError, match=reason):
        status_update_post(**kwargs)
    assert not StatusUpdate.objects.exists()
    assert not PublicIncident.objects.exists()
    assert not ComponentImpact.objects.exists()
    assert TimelineEvent.objects.filter(incident=incident).count() == events


def test_a_private_incident_never_goes_public(team, casey, status_page):
    incident = declare(team, casey, is_private=True)
    with pytest.raises(StatusError, match="private incident never goes on a public"):
        status_update_post(
            incident=incident,
            phase="investigating",
            body="x",
            by=casey,
            public=True,
            page=status_page,
            name="Something",
        )
    assert not StatusUpdate.objects.exists()


def test_a_component_of_another_page_is_refused(team, casey, status_page):
    other = StatusPage.objects.create(slug="internal-tools", title="Tools", team=team)
    wiki = Component.objects.create(page=other, name="Wiki")
    incident = declare(team, casey)
    with pytest.raises(StatusError, match="is not on the page Acme status"):
        status_update_post(
            incident=incident,
            phase="investigating",
            body="x",
            by=casey,
            public=True,
            page=status_page,
            name="Something",
            components={wiki.pk: "major_outage"},
        )


def test_another_teams_page_takes_only_its_own_responders_updates(team, casey):
    payments = TeamFactory(slug="payments", name="Payments")
    their_page = StatusPage.objects.create(slug="pay", title="Payments status", team=payments)
    incident = declare(team, casey)
    with pytest.raises(StatusError, match="does not post to Payments status"):
        status_update_post(
            incident=incident,
            phase="investigating",
            body="x",
            by=casey,
            public=True,
            page=their_page,
            name="Something",
        )
    member_of_both = member(payments, Role.RESPONDER, username="pat")
    status_update_post(
        incident=incident,
        phase="investigating",
        body="x",
        by=member_of_both,
        public=True,
        page=their_page,
        name="Something",
    )


# The pages.


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_composer_fills_the_phases_template_and_lists_the_teams_pages(team, casey, status_page):
    incident = declare(team, casey)
    url = reverse("status_update_post", args=[incident.pk])
    html = client_for(casey).get(url, {"phase": "identified"}).content.decode()
    assert "We have identified the cause of Card payments fail for about 30% of checkouts" in html
    assert "Public, on the status page Acme status" in html
    assert 'name="component-' in html and "Checkout API" in html


def test_posting_from_the_composer_publishes_and_returns_to_the_incident(team, casey, status_page):
    incident = declare(team, casey)
    api = component(status_page, "Checkout API")
    url = reverse("status_update_post", args=[incident.pk])
    response = client_for(casey).post(
        url,
        {
            "phase": "investigating",
            "body": "Card payments fail for some; next update 03:30.",
            "audience": str(status_page.pk),
            "public_name": "Card payments failing",
            "impact": "major",
            f"component-{api.pk}": "major_outage",
        },
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"/incidents/{incident.pk}/#part-communications")
    update = StatusUpdate.objects.get()
    assert update.is_public and update.public_incident.name == "Card payments failing"
    assert list(update.impacts.values_list("status", flat=True)) == ["major_outage"]
    page = client_for(casey).get(incident.get_absolute_url()).content.decode()
    assert "Communications" in page and "Card payments failing" in page


@pytest.mark.parametrize(
    "data, reason",
    [
        ({"audience": "999999999999999999999"}, "Pick one of the status pages"),
        ({"public_name": ""}, "needs a public title"),
        ({"body": ""}, "needs some text"),
    ],
)
def test_a_refused_post_is_a_400_with_the_reason_and_keeps_the_text(
    team, casey, status_page, data, reason
):
    incident = declare(team, casey)
    url = reverse("status_update_post", args=[incident.pk])
    form = {
        "phase": "investigating",
        "body": "Kept text",
        "audience": str(status_page.pk),
        "public_name": "Card payments failing",
    } | data
    response = client_for(casey).post(url, form)
    assert response.status_code == 400
    html = response.content.decode()
    assert reason in html
    if form["body"]:
        assert "Kept text" in html
    assert not StatusUpdate.objects.exists()


def test_who_may_post_and_who_may_not_know(team, casey, status_page):
    incident = declare(team, casey, is_private=True)
    url = reverse("status_update_post", args=[incident.pk])
    viewer = member(team, Role.VIEWER, username="vic")
    outsider = member(TeamFactory(slug="payments"), Role.ADMIN, username="pat")
    assert client_for(viewer).get(url).status_code == 403
    assert client_for(outsider).get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to sign in
    html = client_for(casey).get(url).content.decode()
    assert "A private incident never goes on a public status page" in html
    assert client_for(casey).get(reverse("status_update_post", args=[99999999])).status_code == 404


def test_a_manager_edits_the_templates_and_a_responder_only_reads_them(team, casey):
    manager = member(team, Role.MANAGER, username="morgan")
    url = reverse("status_team_templates", args=[team.slug])
    assert "Save templates" not in client_for(casey).get(url).content.decode()
    assert client_for(casey).post(url, {"template-identified": "x"}).status_code == 403
    response = client_for(manager).post(
        url, {"template-identified": "Found it: {impact}. Next by {next_update_at}."}
    )
    assert response.status_code == 302
    assert templates_for(team=team)["identified"].startswith("Found it")
    response = client_for(manager).post(url, {"template-monitoring": "Watching {nothing}"})
    assert response.status_code == 400
    assert "Unknown placeholder {nothing}" in response.content.decode()
    assert templates_for(team=team)["monitoring"] == DEFAULTS["monitoring"]


def test_the_demo_has_a_status_page_telling_the_seed_incident_and_loads_twice_alike():
    from django.core.management import call_command

    from incidents.models import Incident

    call_command("seed_demo", verbosity=0)
    counts = [
        StatusUpdate.objects.count(),
        Component.objects.count(),
        PublicIncident.objects.count(),
    ]
    call_command("seed_demo", verbosity=0)
    assert (
        [
            StatusUpdate.objects.count(),
            Component.objects.count(),
            PublicIncident.objects.count(),
        ]
        == counts
        == [4, 3, 1]
    )
    html = Client().get("/status/").content.decode()
    assert "Vigil Demo status" in html and "Agent workers" in html
    assert "Database upgrade" in html  # next week's maintenance, shown ahead
    incident = Incident.objects.get(public_incidents__isnull=False)
    html = Client().get(f"/status/incidents/{incident.pk}/").content.decode()
    assert "Errors on agent requests" in html
    assert incident.title not in html
