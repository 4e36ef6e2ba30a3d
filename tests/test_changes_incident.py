"""An incident's recent changes (the likely suspect marked), its rollback panel and the
rollback decision: who, when, which change, which procedure with its commands filled in, the
checklist it ticks and opens, the recovery watch it starts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEntry
from changes.models import (
    ChangeEvent,
    ChangeKind,
    ChangeSource,
    Procedure,
    RecoveryWatch,
    RollbackDecision,
    Service,
)
from changes.procedures import commands
from changes.services import change_record
from incidents import services
from incidents.models import ChecklistItem, ChecklistPhase, EventKind, Severity, Status

pytestmark = pytest.mark.django_db


def declare(team, by, *, started_minutes_ago=0, **kwargs):
    incident = services.incident_declare(
        title="Checkout errors",
        severity=Severity.objects.get(name="SEV1"),
        team=team,
        by=by,
        **kwargs,
    )
    if started_minutes_ago:
        incident.started_at = timezone.now() - timedelta(minutes=started_minutes_ago)
        incident.save(update_fields=["started_at"])
    return incident


def deploy(team, minutes_ago, *, service="checkout", version="v1.6.0", **kwargs):
    change, created = change_record(
        team=team,
        service=service,
        summary=f"Deploy {version}",
        version=version,
        environment="production",
        author="alex",
        source=ChangeSource.API,
        occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
        **kwargs,
    )
    assert created
    return change


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_closest_change_before_the_start_is_the_likely_suspect(team, responder):
    older = deploy(team, 100, version="v1.5.9")
    suspect = deploy(team, 30, version="v1.6.0")
    deploy(team, 200, version="v1.5.0")  # outside the two hours
    incident = declare(team, responder)
    html = signed_in(responder).get(incident.get_absolute_url()).content.decode()
    panel = html[html.index('id="changes-panel"') :]
    panel = panel[: panel.index("</section>")]
    assert "checkout v1.6.0" in panel and "checkout v1.5.9" in panel
    assert "v1.5.0" not in panel
    assert panel.index("Likely suspect") < panel.index("v1.6.0") < panel.index("v1.5.9")
    assert panel.count("Likely suspect") == 1
    assert "30 min before the impact started" in panel
    # Both went on the timeline as automatic events, once.
    events = incident.events.filter(kind=EventKind.CHANGE)
    assert sorted(e.data["change"] for e in events) == sorted([older.pk, suspect.pk])
    assert all(e.author is None for e in events)


def test_a_change_of_an_affected_service_of_another_team_is_listed(team, other_team, responder):
    change = deploy(other_team, 20, service="auth-api")
    incident = declare(team, responder)
    incident.affected_services = ["auth-api"]
    incident.save(update_fields=["affected_services"])
    html = signed_in(responder).get(incident.get_absolute_url()).content.decode()
    assert "auth-api v1.6.0" in html
    assert ChangeEvent.objects.get() == change


def test_a_change_after_the_start_goes_on_the_open_incidents_timeline(team, responder):
    incident = declare(team, responder)
    change = deploy(team, 0, version="v1.6.1")
    event = incident.events.get(kind=EventKind.CHANGE)
    assert event.data["change"] == change.pk
    assert "Deploy of checkout v1.6.1 to production by alex" in event.body


def test_the_incident_page_runs_the_same_queries_at_5_and_50_changes(
    team, responder, django_assert_num_queries
):
    incident = declare(team, responder, started_minutes_ago=1)
    client = signed_in(responder)
    service = Service.objects.create(team=team, name="checkout")

    def add(count):
        now = timezone.now()
        ChangeEvent.objects.bulk_create(
            ChangeEvent(
                team=team,
                service=service,
                summary=f"Deploy {i}",
                source=ChangeSource.API,
                occurred_at=now - timedelta(minutes=i % 100),
            )
            for i in range(count)
        )

    add(5)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(incident.get_absolute_url()).status_code == 200
    at_five = len(ctx)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(incident.get_absolute_url() + "?part=changes", HTTP_HX_REQUEST="true")
    panel = len(ctx)
    add(45)
    with django_assert_num_queries(at_five):
        client.get(incident.get_absolute_url())
    with django_assert_num_queries(panel):
        client.get(incident.get_absolute_url() + "?part=changes", HTTP_HX_REQUEST="true")


def test_the_incident_page_links_the_runbook_changes_and_advice_from_the_top(team, responder):
    incident = declare(team, responder)
    html = signed_in(responder).get(incident.get_absolute_url()).content.decode()
    nav = html[html.index('aria-label="On this incident"') :]
    nav = nav[: nav.index("</nav>")]
    assert 'href="#part-runbooks">Runbook<' in nav
    assert 'href="#part-changes">Recent changes<' in nav
    assert 'href="#part-rollback">Rollback advice<' in nav
    for target in ("part-runbooks", "part-changes", "part-rollback"):
        assert f'id="{target}"' in html


def test_deciding_a_rollback_records_it_ticks_mitigation_and_opens_the_post_rollback_checklist(
    team, responder
):
    change = deploy(team, 30, previous_version="3")
    incident = declare(team, responder)
    client = signed_in(responder)
    form = client.get(f"/changes/incidents/{incident.pk}/rollback/").content.decode()
    assert "kubectl rollout undo deployment/checkout -n production" in form
    assert "--to-revision=3" in form
    response = client.post(
        f"/changes/incidents/{incident.pk}/rollback/",
        {"change": str(change.pk), "procedure": Procedure.KUBERNETES},
    )
    assert response.status_code == 302
    decision = RollbackDecision.objects.get()
    assert decision.incident == incident and decision.change == change
    assert decision.decided_by == responder and decision.procedure == Procedure.KUBERNETES
    assert decision.commands == commands(Procedure.KUBERNETES, change)
    assert decision.advice["recommendation"] in ("rollback", "no_rollback", "undecided")
    event = incident.events.get(kind=EventKind.ROLLBACK)
    assert event.author == responder
    assert event.body.startswith(
        "Rollback decided by Alex Rivera: roll back checkout v1.6.0 in production "
        "(Kubernetes rolling undo)."
    )
    mitigation = ChecklistItem.objects.get(
        incident=incident, text="Obvious fix attempted (rollback, scale, etc.)"
    )
    assert mitigation.is_done and mitigation.done_by_vigil
    post = ChecklistItem.objects.filter(incident=incident, phase=ChecklistPhase.POST_ROLLBACK)
    assert [i.text.split(":")[0] for i in post.order_by("position")] == [
        "Verify recovery",
        "Communicate",
        "Preserve evidence",
        "Postmortem scheduled within 24-48 hours",
    ]
    watch = RecoveryWatch.objects.get(incident=incident)
    assert watch.decision == decision and watch.service == change.service
    assert AuditEntry.objects.filter(action="rollback.decide").count() == 1
    # The page shows the decision and its commands.
    html = client.get(incident.get_absolute_url()).content.decode()
    assert "Rollback decided" in html and "Post-rollback" in html


def test_a_second_rollback_does_not_open_the_checklist_twice(team, responder):
    change = deploy(team, 30)
    incident = declare(team, responder)
    client = signed_in(responder)
    for procedure in (Procedure.KUBERNETES, Procedure.BLUE_GREEN):
        client.post(
            f"/changes/incidents/{incident.pk}/rollback/",
            {"change": str(change.pk), "procedure": procedure},
        )
    assert RollbackDecision.objects.count() == 2
    assert (
        ChecklistItem.objects.filter(incident=incident, phase=ChecklistPhase.POST_ROLLBACK).count()
        == 4
    )
    assert RecoveryWatch.objects.filter(incident=incident).count() == 1


def test_a_viewer_may_not_decide_and_an_outsider_does_not_see_a_private_incident(
    team, responder, viewer, outsider
):
    change = deploy(team, 30)
    incident = declare(team, responder)
    path = f"/changes/incidents/{incident.pk}/rollback/"
    assert signed_in(viewer).get(path).status_code == 403
    body = {"change": str(change.pk), "procedure": Procedure.KUBERNETES}
    assert signed_in(viewer).post(path, body).status_code == 403
    incident.is_private = True
    incident.save(update_fields=["is_private"])
    assert signed_in(outsider).get(path).status_code == 404
    assert signed_in(outsider).get(f"/changes/incidents/{incident.pk}/advice/").status_code == 404
    assert RollbackDecision.objects.count() == 0


def test_bad_decisions_are_refused_with_the_reason_and_store_nothing(team, other_team, responder):
    foreign = deploy(other_team, 30, service="billing")
    incident = declare(team, responder)
    client = signed_in(responder)
    path = f"/changes/incidents/{incident.pk}/rollback/"
    for body, reason in [
        ({"change": str(foreign.pk), "procedure": Procedure.KUBERNETES}, "not one of this"),
        ({"change": "12\x00", "procedure": Procedure.KUBERNETES}, "NUL"),
        ({"change": "none", "procedure": "rm -rf"}, "Pick one of the four procedures"),
    ]:
        response = client.post(path, body)
        assert response.status_code == 400, body
        assert reason in response.content.decode()
    services.incident_change_status(incident=incident, status=Status.RESOLVED, by=responder)
    response = client.post(path, {"change": "none", "procedure": Procedure.KUBERNETES})
    assert response.status_code == 400
    assert "reopen it" in response.content.decode()
    assert RollbackDecision.objects.count() == 0
    assert not incident.events.filter(kind=EventKind.ROLLBACK).exists()


def test_commands_quote_what_a_sender_named(team):
    service = Service.objects.create(team=team, name="x; rm -rf ~")
    change = ChangeEvent(
        team=team,
        service=service,
        summary="Feature flag new_checkout: true → false",
        kind=ChangeKind.FLAG,
        environment="prod $(id)",
        previous_version="v1'2",
        source=ChangeSource.API,
        occurred_at=timezone.now(),
        details={"flag": "new_checkout"},
    )
    k8s = commands(Procedure.KUBERNETES, change)
    assert "kubectl rollout undo 'deployment/x; rm -rf ~' -n 'prod $(id)'" in k8s
    assert "--to-revision='v1'\"'\"'2'" in k8s
    blue_green = commands(Procedure.BLUE_GREEN, change)
    assert '-p \'{"spec": {"selector": {"version": "v1\'"\'"\'2"}}}\'' in blue_green
    flag = commands(Procedure.FLAG_OFF, change)
    assert "curl -X POST http://localhost:8000/flags/new_checkout/disable" in flag
    database = commands(Procedure.DATABASE, change)
    assert "python manage.py migrate 'x; rm -rf ~' 'v1'\"'\"'2'" in database


def test_without_a_recorded_change_the_commands_name_what_to_fill_in():
    assert "kubectl rollout undo deployment/SERVICE -n production" in commands(
        Procedure.KUBERNETES, None
    )
    assert "PREVIOUS_MIGRATION" in commands(Procedure.DATABASE, None)
    assert "FLAG_NAME" in commands(Procedure.FLAG_OFF, None)


def test_marking_the_incident_mitigated_starts_a_recovery_watch(team, responder):
    deploy(team, 30)
    incident = declare(team, responder)
    services.incident_change_status(incident=incident, status=Status.MITIGATED, by=responder)
    watch = RecoveryWatch.objects.get(incident=incident)
    assert watch.trigger == "Marked mitigated"
    assert watch.service.name == "checkout"


def test_the_changes_list_shows_every_teams_changes_newest_first(team, other_team, responder):
    deploy(team, 50, version="v1")
    deploy(other_team, 10, service="billing", version="v9")
    html = signed_in(responder).get("/changes/").content.decode()
    assert html.index("billing v9") < html.index("checkout v1")
    assert "javascript:" not in html
