"""Runbooks: revisions, diff and restore, bad input, permissions, search, freshness, and the
runbooks an incident's alerts bring up with their tickable steps."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from incidents.models import EventKind, Severity, TimelineEvent
from incidents.services import incident_declare, timeline_event_add
from runbooks.models import MAX_BODY_BYTES, Runbook, RunbookRevision, StepCheck
from runbooks.selectors import incident_panel_context, runbook_list
from runbooks.services import (
    TEMPLATE_BODY,
    RunbookError,
    review_digest_send,
    runbook_create,
    runbook_library_load,
    runbook_mark_reviewed,
    runbook_restore,
    runbook_step_tick,
    runbook_update,
)
from teams.models import Role
from tests.factories import member

pytestmark = pytest.mark.django_db

BODY = """## When to Use
- Alert: "AgentHighErrorRate"

## Diagnostic Steps

### Step 1: Check Recent Changes
```bash
kubectl rollout history deployment/agent-api
```

### Step 2: Check Error Patterns
```bash
kubectl logs deployment/agent-api --tail=100 | grep ERROR
```
"""


@pytest.fixture
def runbook(team, responder):
    return runbook_create(
        title="High Error Rate",
        slug="high-error-rate",
        team=team,
        body=BODY,
        tags=["errors"],
        alert_names=["AgentHighErrorRate"],
        by=responder,
    )


def declare(team, by, **kwargs):
    return incident_declare(
        title="Agent errors", severity=Severity.objects.get(level=1), team=team, by=by, **kwargs
    )


def alert_event(incident, **data):
    return timeline_event_add(
        incident=incident,
        kind=EventKind.ALERT,
        body=f"Alert {data.get('alertname', '')} firing",
        data=data,
    )


# --- revisions -------------------------------------------------------------------------------


def test_every_save_keeps_a_revision_with_author_time_and_message(runbook, responder):
    runbook_update(
        runbook=runbook,
        title="High Error Rate",
        body=BODY + "\n## Escalation\n1. Page secondary on-call\n",
        tags=["errors"],
        alert_names=["AgentHighErrorRate"],
        by=responder,
        message="Add escalation",
    )
    revisions = list(runbook.revisions.order_by("number"))
    assert [r.number for r in revisions] == [1, 2]
    assert revisions[1].author == responder
    assert revisions[1].message == "Add escalation"
    assert "Page secondary on-call" in revisions[1].body
    assert revisions[0].created_at <= revisions[1].created_at
    assert AuditEntry.objects.filter(action="runbook.update", object_id=str(runbook.pk)).exists()


def test_saving_unchanged_content_makes_no_revision(runbook, responder):
    _, changed = runbook_update(
        runbook=runbook,
        title="High Error Rate",
        body=BODY.replace("\n", "\r\n"),
        tags=["errors"],
        alert_names=["AgentHighErrorRate"],
        by=responder,
    )
    assert changed is False
    assert runbook.revisions.count() == 1


def test_any_two_revisions_compare_as_a_readable_diff(client, runbook, responder):
    for n in (2, 3):
        runbook_update(
            runbook=runbook,
            title="High Error Rate",
            body=BODY.replace("--tail=100", f"--tail={n}00"),
            tags=["errors", f"v{n}"],
            alert_names=["AgentHighErrorRate"],
            by=responder,
            message=f"Edit {n}",
        )
    client.force_login(responder)
    response = client.get(reverse("runbook_diff", args=[runbook.slug]), {"old": 1, "new": 3})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Revision 1 → 3" in html
    assert 'rb-diff-del"><span class="visually-hidden">removed: </span>-kubectl logs' in html
    assert "--tail=100" in html and "--tail=300" in html
    assert 'rb-diff-add"><span class="visually-hidden">added: </span>+kubectl logs' in html
    assert "Tags:" in html


def test_a_diff_of_a_missing_revision_is_a_clear_404(client, runbook, responder):
    client.force_login(responder)
    response = client.get(reverse("runbook_diff", args=[runbook.slug]), {"old": 1, "new": 9})
    assert response.status_code == 404
    assert "Revision 9 does not exist." in response.content.decode()
    assert client.get(reverse("runbook_diff", args=[runbook.slug]), {"old": "x"}).status_code == 400


def test_restoring_an_old_revision_makes_a_new_revision(client, runbook, responder):
    runbook_update(
        runbook=runbook,
        title="High Error Rate (edited)",
        body="## Replaced\n",
        tags=[],
        alert_names=[],
        by=responder,
    )
    client.force_login(responder)
    response = client.post(reverse("runbook_restore", args=[runbook.slug, 1]))
    assert response.status_code == 302
    runbook.refresh_from_db()
    assert runbook.body == BODY
    assert runbook.title == "High Error Rate"
    assert runbook.alert_names == ["AgentHighErrorRate"]
    latest = runbook.revisions.order_by("-number").first()
    assert latest.number == 3
    assert latest.message == "Restored revision 1"
    assert latest.author == responder


def test_restoring_the_current_text_says_so_and_saves_nothing(runbook, responder):
    with pytest.raises(RunbookError, match="already reads as revision 1"):
        runbook_restore(runbook=runbook, number=1, by=responder)
    assert runbook.revisions.count() == 1


def test_the_history_page_lists_revisions_newest_first(client, runbook, responder):
    runbook_update(
        runbook=runbook, title="T2", body=BODY, tags=[], alert_names=[], by=responder, message="m2"
    )
    client.force_login(responder)
    html = client.get(reverse("runbook_history", args=[runbook.slug])).content.decode()
    assert html.index("Revision 2") < html.index("Revision 1")
    assert "m2" in html and "Restore revision 1" in html


# --- creating and bad input -----------------------------------------------------------------------


def test_new_runbook_starts_from_the_seed_template(client, responder):
    client.force_login(responder)
    html = client.get(reverse("runbook_create")).content.decode()
    for section in [
        "When to Use",
        "Severity Assessment",
        "Diagnostic Steps",
        "Mitigation Options",
        "Escalation",
        "Post-Incident",
    ]:
        assert f"## {section}" in TEMPLATE_BODY
        assert f"## {section}" in html


def test_a_responder_creates_a_runbook_through_the_form(client, team, responder):
    client.force_login(responder)
    response = client.post(
        reverse("runbook_create"),
        {
            "title": "Redis Down",
            "slug": "redis-down",
            "team": team.pk,
            "tags": "redis, Cache",
            "alert_names": "RedisDown",
            "body": TEMPLATE_BODY,
            "message": "First draft",
        },
    )
    assert response.status_code == 302
    runbook = Runbook.objects.get(slug="redis-down")
    assert runbook.tags == ["redis", "cache"]
    assert runbook.alert_names == ["RedisDown"]
    assert runbook.owner == responder
    assert runbook.revisions.get().message == "First draft"


def test_a_two_megabyte_body_is_refused_clearly_and_nothing_is_saved(client, team, responder):
    client.force_login(responder)
    response = client.post(
        reverse("runbook_create"),
        {"title": "Huge", "slug": "huge", "team": team.pk, "body": "x" * 2_000_000},
    )
    assert response.status_code == 400
    assert "limited to 1 MB" in response.content.decode()
    assert not Runbook.objects.filter(slug="huge").exists()
    assert not RunbookRevision.objects.exists()


def test_an_edit_over_the_cap_leaves_the_runbook_as_it_was(runbook, responder):
    with pytest.raises(RunbookError, match="limited to 1 MB"):
        runbook_update(
            runbook=runbook,
            title="x",
            body="é" * (MAX_BODY_BYTES // 2 + 1),
            tags=[],
            alert_names=[],
            by=responder,
        )
    runbook.refresh_from_db()
    assert runbook.body == BODY and runbook.revisions.count() == 1


def test_a_duplicate_slug_is_refused_clearly(client, team, responder, runbook):
    client.force_login(responder)
    response = client.post(
        reverse("runbook_create"),
        {"title": "Another", "slug": "high-error-rate", "team": team.pk, "body": "text"},
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert Runbook.objects.count() == 1


def test_an_invalid_alert_name_is_refused(team, responder):
    with pytest.raises(RunbookError, match="not a valid alert name"):
        runbook_create(
            title="X", slug="x", team=team, body="b", alert_names=["rm -rf /"], by=responder
        )
    assert not Runbook.objects.exists()


def test_a_script_in_the_body_is_harmless_on_the_page(client, team, responder):
    runbook_create(
        title="Evil",
        slug="evil",
        team=team,
        by=responder,
        body="<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[x](javascript:alert(1))\n\n<iframe src=https://evil.example></iframe>\n",
    )
    client.force_login(responder)
    html = client.get(reverse("runbook_detail", args=["evil"])).content.decode()
    body = html[html.index('class="rb-body card"') :]
    assert "<script>alert" not in body
    assert "onerror" not in body
    assert "javascript:" not in body
    assert "<iframe" not in body


# --- permissions --------------------------------------------------------------------------------


def test_a_viewer_may_read_but_not_edit_review_restore_or_tick(client, runbook, viewer, team):
    incident = declare(team, None)
    client.force_login(viewer)
    assert client.get(reverse("runbook_detail", args=[runbook.slug])).status_code == 200
    assert client.get(reverse("runbook_edit", args=[runbook.slug])).status_code == 403
    assert client.post(reverse("runbook_mark_reviewed", args=[runbook.slug])).status_code == 403
    assert client.post(reverse("runbook_restore", args=[runbook.slug, 1])).status_code == 403
    assert client.get(reverse("runbook_create")).status_code == 403
    tick = reverse(
        "runbook_step_tick", args=[incident.pk, runbook.slug, "step-1-check-recent-changes"]
    )
    assert client.post(tick).status_code == 403
    assert not StepCheck.objects.exists()
    html = client.get(reverse("runbook_detail", args=[runbook.slug])).content.decode()
    assert "Mark reviewed" not in html and ">Edit<" not in html


def test_another_teams_responder_cannot_edit_or_tick(client, runbook, outsider, team):
    incident = declare(team, None)
    client.force_login(outsider)
    assert client.get(reverse("runbook_edit", args=[runbook.slug])).status_code == 403
    tick = reverse(
        "runbook_step_tick", args=[incident.pk, runbook.slug, "step-1-check-recent-changes"]
    )
    assert client.post(tick).status_code == 403
    private = declare(team, None, is_private=True)
    tick = reverse(
        "runbook_step_tick", args=[private.pk, runbook.slug, "step-1-check-recent-changes"]
    )
    assert client.post(tick).status_code == 404
    assert client.get(reverse("incident_runbooks", args=[private.pk])).status_code == 404


def test_a_runbook_cannot_be_created_for_a_team_one_is_not_in(client, outsider, team):
    client.force_login(outsider)
    response = client.post(
        reverse("runbook_create"),
        {"title": "Sneaky", "slug": "sneaky", "team": team.pk, "body": "text"},
    )
    assert response.status_code == 400
    assert not Runbook.objects.exists()


def test_signed_out_visitors_are_sent_to_log_in(client, runbook):
    response = client.get(reverse("runbook_detail", args=[runbook.slug]))
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- search ---------------------------------------------------------------------------------


@pytest.fixture
def library(team):
    runbook_library_load(team_override=team.slug)


def test_search_ranks_high_error_rate_first_for_error_rate(library):
    assert connection.vendor == "postgresql"
    results = list(runbook_list(q="error rate"))
    assert results[0].title == "High Error Rate"
    assert len(results) > 1


def test_search_matches_tags_and_body_and_filters_by_team_and_tag(library, other_team, client):
    assert runbook_list(q="certificates")[0].slug == "certificate-expiry"  # a tag
    assert "disk-space-full" in [r.slug for r in runbook_list(q="replication slot")]  # body
    assert [r.slug for r in runbook_list(tag="redis")] == ["redis-down"]
    assert list(runbook_list(team="payments")) == []
    assert runbook_list(team="platform").count() == 12
    assert list(runbook_list(q="zebra quantum")) == []


def test_the_list_page_searches_and_filters(client, library, viewer):
    client.force_login(viewer)
    html = client.get(reverse("runbooks"), {"q": "error rate"}).content.decode()
    assert html.index("High Error Rate") < html.index("Debugging Runaway Agent")
    html = client.get(reverse("runbooks"), {"tag": "tls"}).content.decode()
    assert "Certificate Expiry" in html and "Redis Down" not in html


# --- freshness ---------------------------------------------------------------------------------


def test_runbooks_not_reviewed_in_ninety_days_are_flagged(client, runbook, responder):
    runbook_mark_reviewed(runbook=runbook, by=responder)
    client.force_login(responder)
    assert "Needs review" not in client.get(reverse("runbooks")).content.decode()
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        runbook.refresh_from_db()
        assert runbook.is_stale
        client.force_login(responder)  # the earlier session has expired by then
        html = client.get(reverse("runbooks")).content.decode()
        assert "Needs review" in html and "1 runbook not reviewed in 90 days" in html


def test_mark_reviewed_records_who_and_when(client, runbook, responder):
    client.force_login(responder)
    response = client.post(reverse("runbook_mark_reviewed", args=[runbook.slug]))
    assert response.status_code == 302
    runbook.refresh_from_db()
    assert runbook.last_reviewed_by == responder
    assert timezone.now() - runbook.last_reviewed_at < timedelta(seconds=5)
    html = client.get(reverse("runbook_detail", args=[runbook.slug])).content.decode()
    assert "Reviewed" in html and "Alex Rivera" in html


def test_the_weekly_digest_emails_owners_their_stale_runbooks(team, responder, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    start = timezone.now()
    fresh = runbook_create(title="Fresh", slug="fresh", team=team, body="b", by=responder)
    runbook_create(title="Never Reviewed", slug="never", team=team, body="b", by=responder)
    runbook_create(title="Just Written", slug="new", team=team, body="b", by=responder)
    with time_machine.travel(start + timedelta(days=60)):
        runbook_mark_reviewed(runbook=fresh, by=responder)
    Runbook.objects.filter(slug="new").update(created_at=start + timedelta(days=80))
    with time_machine.travel(start + timedelta(days=91)):
        assert review_digest_send() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [responder.email]
    assert "Never Reviewed" in message.body and "Fresh" not in message.body
    assert "Just Written" not in message.body
    assert "/runbooks/never/" in message.body
    assert "runbooks-review-digest" in settings.CELERY_BEAT_SCHEDULE
    entry = settings.CELERY_BEAT_SCHEDULE["runbooks-review-digest"]
    assert entry["task"] == "runbooks.tasks.send_review_digest"


# --- on an incident -------------------------------------------------------------------------------


def test_the_incidents_alerts_bring_up_the_matching_runbooks(team, responder, runbook, library):
    incident = declare(team, responder)
    alert_event(incident, alertname="AgentHighErrorRate", runbook_url="https://wiki/x")
    offered = incident_panel_context(incident=incident, user=responder)["offered"]
    assert [o.runbook.slug for o in offered] == ["high-error-rate"]
    assert offered[0].reasons == ["alert AgentHighErrorRate"]


def test_an_alerts_runbook_url_into_vigil_matches_too(team, responder, library, settings):
    settings.SITE_URL = "https://vigil.example"
    incident = declare(team, responder)
    alert_event(
        incident, alertname="Unknown", runbook_url="https://vigil.example/runbooks/redis-down/"
    )
    alert_event(incident, alertname="Other", runbook_url="https://evil.example/runbooks/disk/")
    offered = incident_panel_context(incident=incident, user=responder)["offered"]
    assert [o.runbook.slug for o in offered] == ["redis-down"]
    assert offered[0].reasons == ["the alert's runbook link"]


def test_an_incident_without_alerts_offers_nothing(team, responder, library, client):
    incident = declare(team, responder)
    assert incident_panel_context(incident=incident, user=responder)["offered"] == []
    client.force_login(responder)
    html = client.get(reverse("incident_runbooks", args=[incident.pk])).content.decode()
    assert "No runbook matches this incident" in html


def test_the_panel_runs_the_same_queries_for_one_alert_or_ten(team, responder, library):
    def count(alerts):
        incident = declare(team, responder)
        names = [
            "AgentHighErrorRate",
            "AgentHighLatency",
            "AgentQueueDepthHigh",
            "RedisDown",
            "PostgresqlDown",
            "AgentMemoryGrowing",
            "SSLCertExpired",
            "NodeFilesystemAlmostOutOfSpace",
            "AgentRateLimitErrors",
            "AgentCompleteOutage",
        ]
        for name in names[:alerts]:
            alert_event(incident, alertname=name)
        runbook = Runbook.objects.get(slug="high-error-rate")
        runbook_step_tick(
            incident=incident, runbook=runbook, step_key="step-1-check-recent-changes", by=responder
        )
        responder._vigil_team_roles = None
        with CaptureQueriesContext(connection) as ctx:
            context = incident_panel_context(incident=incident, user=responder)
        return len(ctx.captured_queries), len(context["offered"])

    small, offered_small = count(1)
    large, offered_large = count(10)
    assert offered_large > offered_small
    assert small == large


def test_ticking_a_step_writes_the_timeline_and_is_remembered(client, team, responder, runbook):
    incident = declare(team, responder)
    alert_event(incident, alertname="AgentHighErrorRate")
    client.force_login(responder)
    url = reverse(
        "runbook_step_tick", args=[incident.pk, runbook.slug, "step-2-check-error-patterns"]
    )
    response = client.post(url)
    assert response.status_code == 302
    event = TimelineEvent.objects.get(incident=incident, kind=EventKind.RUNBOOK_STEP)
    assert event.body == "Step 2 — Check Error Patterns: done by Alex Rivera"
    assert event.author == responder
    assert event.data["runbook"] == "high-error-rate"
    assert client.post(url).status_code == 302  # a second tick changes nothing
    assert StepCheck.objects.filter(incident=incident).count() == 1
    assert TimelineEvent.objects.filter(kind=EventKind.RUNBOOK_STEP).count() == 1
    html = client.get(reverse("incident_runbooks", args=[incident.pk])).content.decode()
    assert "Done: </span>Step 2 — Check Error Patterns" in html
    assert 'aria-label="Tick Step 1 — Check Recent Changes"' in html
    detail = client.get(reverse("runbook_detail", args=[runbook.slug])).content.decode()
    assert f"#{incident.pk} Agent errors" in detail and "1 step ticked" in detail


def test_ticking_with_htmx_answers_the_steps_and_the_timeline(client, team, responder, runbook):
    incident = declare(team, responder)
    alert_event(incident, alertname="AgentHighErrorRate")
    client.force_login(responder)
    url = reverse(
        "runbook_step_tick", args=[incident.pk, runbook.slug, "step-1-check-recent-changes"]
    )
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="rb-steps-{runbook.pk}"' in html
    assert 'id="rb-timeline" aria-label="Timeline" hx-swap-oob="true"' in html
    assert "Step 1 — Check Recent Changes: done by Alex Rivera" in html


def test_a_step_that_is_not_in_the_runbook_is_a_clear_error(client, team, responder, runbook):
    incident = declare(team, responder)
    client.force_login(responder)
    url = reverse("runbook_step_tick", args=[incident.pk, runbook.slug, "no-such-step"])
    response = client.post(url, follow=True)
    assert "That step is no longer in the runbook" in response.content.decode()
    assert not StepCheck.objects.exists()
    assert not TimelineEvent.objects.filter(kind=EventKind.RUNBOOK_STEP).exists()


def test_the_tick_redirect_stays_inside_vigil(client, team, responder, runbook):
    incident = declare(team, responder)
    client.force_login(responder)
    url = reverse(
        "runbook_step_tick", args=[incident.pk, runbook.slug, "step-1-check-recent-changes"]
    )
    response = client.post(url, {"next": "https://evil.example/"})
    assert response["Location"] == reverse("incident_runbooks", args=[incident.pk])


def test_a_responder_can_open_any_runbook_on_an_incident_by_hand(client, team, responder, library):
    incident = declare(team, responder)
    client.force_login(responder)
    url = reverse("incident_runbooks", args=[incident.pk])
    html = client.get(url, {"runbook": "disk-space-full"}).content.decode()
    assert "Disk Space Full" in html and "opened by hand" in html
    tick = reverse(
        "runbook_step_tick",
        args=[incident.pk, "disk-space-full", "step-1-which-filesystem-how-fast"],
    )
    assert client.post(tick).status_code == 302
    # Once a step is ticked it stays offered on the incident.
    offered = incident_panel_context(incident=incident, user=responder)["offered"]
    assert [o.runbook.slug for o in offered] == ["disk-space-full"]


def test_an_edit_over_someone_elses_newer_save_is_refused_with_both_kept(
    client, team, runbook, responder
):
    colleague = member(team, Role.RESPONDER, first_name="Sam", last_name="Okafor")
    client.force_login(responder)
    page = client.get(reverse("runbook_edit", args=[runbook.slug])).content.decode()
    assert 'name="base_revision" value="1"' in page
    runbook_update(
        runbook=runbook,
        title=runbook.title,
        body=BODY + "\nSam's addition.\n",
        tags=runbook.tags,
        alert_names=runbook.alert_names,
        by=colleague,
        base_revision=1,
    )
    mine = {
        "title": "High Error Rate",
        "tags": "errors",
        "alert_names": "AgentHighErrorRate",
        "body": BODY + "\nAlex's addition.\n",
        "base_revision": 1,
    }
    response = client.post(reverse("runbook_edit", args=[runbook.slug]), mine)
    assert response.status_code == 409
    html = response.content.decode()
    assert "Sam Okafor saved revision 2 while you were editing revision 1" in html
    assert "Alex&#x27;s addition." in html
    assert 'name="base_revision" value="2"' in html
    assert "?old=1&amp;new=2" in html
    runbook.refresh_from_db()
    assert "Sam's addition." in runbook.body and runbook.revisions.count() == 2
    # Saving again, having seen the conflict, replaces it as a new revision.
    response = client.post(
        reverse("runbook_edit", args=[runbook.slug]), {**mine, "base_revision": 2}
    )
    assert response.status_code == 302
    runbook.refresh_from_db()
    assert "Alex's addition." in runbook.body and runbook.revisions.count() == 3


def test_the_list_and_runbook_pages_run_a_fixed_number_of_queries(client, team, responder):
    def counts():
        client.force_login(responder)
        with CaptureQueriesContext(connection) as listing:
            assert client.get(reverse("runbooks"), {"q": "error"}).status_code == 200
        with CaptureQueriesContext(connection) as detail:
            assert client.get(reverse("runbook_detail", args=["rb-0"])).status_code == 200
        return len(listing.captured_queries), len(detail.captured_queries)

    incident = declare(team, responder)

    def add(n):
        start = Runbook.objects.count()
        for i in range(start, start + n):
            rb = runbook_create(
                title=f"Error runbook {i}", slug=f"rb-{i}", team=team, body=BODY, by=responder
            )
            runbook_step_tick(
                incident=incident, runbook=rb, step_key="step-1-check-recent-changes", by=responder
            )

    add(1)
    small = counts()
    add(9)
    assert counts() == small


def test_the_digest_task_runs_the_service(team, responder, settings):
    from runbooks.tasks import send_review_digest

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    runbook_create(title="Old", slug="old", team=team, body="b", by=responder)
    Runbook.objects.update(created_at=timezone.now() - timedelta(days=200))
    assert send_review_digest.apply().get() == 1
    assert mail.outbox[0].subject == "Vigil: 1 runbook due for review"


@pytest.mark.django_db(transaction=True)
def test_two_responders_ticking_the_same_step_at_once_record_it_once(team, responder, runbook):
    import threading

    colleague = member(team, Role.RESPONDER)
    incident = declare(team, responder)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def tick(user):
        try:
            barrier.wait()
            results.append(
                runbook_step_tick(
                    incident=incident,
                    runbook=runbook,
                    step_key="step-1-check-recent-changes",
                    by=user,
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=tick, args=(u,)) for u in (responder, colleague)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(results) == 2 and results[0].pk == results[1].pk
    assert StepCheck.objects.count() == 1
    assert TimelineEvent.objects.filter(kind=EventKind.RUNBOOK_STEP).count() == 1
