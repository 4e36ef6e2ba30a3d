"""Dependency checks through Vigil's services, tick and pages: the up/down state across
failures and successes in a row, the one alert (and incident) it raises and resolves, the
claim that keeps two ticks from running one check twice, a slow check that does not hold the
others up, and the pages' permissions, forms and history chart."""

import socket
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from alerts.models import Alert, AlertGroup, GroupStatus, IntegrationKind
from audit.models import AuditEntry
from checks import services
from checks.models import Check, CheckKind, CheckResult, CheckState
from teams.models import Role
from tests.alerts_fixtures import fast_passwords, oncall_team  # noqa: F401
from tests.factories import PASSWORD, member

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def listening():
    """A TCP port that accepts (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def agents():
    team, people = oncall_team(slug="agents")
    return team, people


@pytest.fixture
def manager(team):
    return member(team, Role.MANAGER, username="morgan")


def tcp_check(team, port, **fields) -> Check:
    fields.setdefault("name", "Model API port")
    return Check.objects.create(team=team, kind=CheckKind.TCP, target=f"127.0.0.1:{port}", **fields)


def check_groups(check):
    return AlertGroup.objects.filter(
        integration__kind=IntegrationKind.INTERNAL, group_key=f"vigil:check:{check.pk}"
    )


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


# --- state and alerts ------------------------------------------------------------------


def test_it_goes_down_at_the_third_failure_in_a_row_and_up_after_two_successes(agents):
    team, _ = agents
    check = tcp_check(team, 1, fail_after=3, recover_after=2)
    states = []
    for ok in [False, False, True, False, False, False, True, True]:
        services.record_result(check, ok, 1.5, "ok" if ok else "refused")
        check.refresh_from_db()
        states.append(check.state)
        if ok is False and check.state == CheckState.DOWN and len(states) == 6:
            [group] = check_groups(check)
            assert group.status == GroupStatus.FIRING
    assert states == ["unknown", "unknown", "up", "up", "up", "down", "down", "up"]
    assert CheckResult.objects.filter(dependency_check=check).count() == 8

    [group] = check_groups(check)  # fired once, resolved once: one group
    assert group.status == GroupStatus.RESOLVED and group.resolved_at is not None
    assert group.title == "Check failing: Model API port"
    assert group.severity == "critical"
    assert group.labels["check"] == "Model API port" and group.labels["kind"] == "tcp"
    assert group.labels["source"] == "check"
    [alert] = Alert.objects.filter(group=group)
    assert alert.status == GroupStatus.RESOLVED and alert.fingerprint == f"check:{check.pk}"
    assert group.incident is not None
    assert group.incident.team_id == team.pk


def test_going_down_opens_an_incident_and_more_failures_do_not_alert_again(agents):
    team, _ = agents
    check = tcp_check(team, 1, fail_after=2)
    for _ in range(5):
        services.record_result(check, False, None, "refused")
    [group] = check_groups(check)
    assert group.status == GroupStatus.FIRING
    assert group.incident is not None and group.incident.is_open
    assert group.annotations["description"] == "refused"
    assert Alert.objects.filter(group=group).count() == 1
    assert check.consecutive_failures == 5 and check.state == CheckState.DOWN


def test_a_check_deleted_while_down_resolves_its_alert(agents, team):
    agents_team, people = agents
    check = tcp_check(agents_team, 1, fail_after=1)
    services.record_result(check, False, None, "refused")
    services.check_delete(check=check, by=people["lead"])
    assert not Check.objects.filter(pk=check.pk).exists()
    assert AlertGroup.objects.get(group_key=f"vigil:check:{check.pk}").status == "resolved"
    assert AuditEntry.objects.filter(action="check.delete").exists()


def test_pausing_a_down_check_resolves_its_alert_and_starts_it_over(agents):
    team, people = agents
    check = tcp_check(team, 1, fail_after=1)
    services.record_result(check, False, None, "refused")
    data = {f: getattr(check, f) for f in services.FIELDS} | {"enabled": False}
    updated = services.check_update(check=check, data=data, by=people["lead"])
    assert updated.state == CheckState.UNKNOWN and updated.consecutive_failures == 0
    assert check_groups(check).get().status == GroupStatus.RESOLVED


# --- saving ----------------------------------------------------------------------------


def save(team, by, **data):
    data = {"name": "Redis", "kind": "redis", "target": "redis://127.0.0.1:6379/0"} | data
    return services.check_create(team=team, data=data, by=by)


def test_only_managers_create_checks(team, responder, manager):
    with pytest.raises(services.CheckError, match="Only managers"):
        save(team, responder)
    check = save(team, manager)
    assert check.created_by == manager and check.next_run_at <= timezone.now()
    entry = AuditEntry.objects.get(action="check.create")
    assert entry.after["target"] == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"kind": "smtp"}, "Choose a kind"),
        ({"target": "http://127.0.0.1/"}, "Use a redis:// or rediss:// URL"),
        ({"kind": "tcp", "target": "127.0.0.1"}, "Give host:port"),
        ({"kind": "postgres", "target": "postgres://h:99999/x"}, "port must be a number"),
        ({"kind": "http", "target": "http://127.0.0.1/", "body_match": "(a"}, "RE2"),
        ({"kind": "prometheus", "target": "http://127.0.0.1:9090", "threshold": 1}, "a query"),
        (
            {"kind": "prometheus", "target": "http://127.0.0.1:9090", "query": "up"},
            "threshold",
        ),
        ({"interval_seconds": 5}, "from 10 to 86400"),
        ({"interval_seconds": 10**30}, "from 10 to 86400"),
        ({"timeout_seconds": 30, "interval_seconds": 20}, "shorter than the interval"),
        ({"name": "bad\x00name"}, "NUL"),
        ({"name": "  "}, "needs a name"),
    ],
)
def test_it_refuses_a_check_it_could_not_run(team, manager, data, message):
    with pytest.raises(services.CheckError, match=message):
        save(team, manager, **data)
    assert not Check.objects.exists()


def test_the_address_check_refuses_loopback_at_save_when_it_is_not_allowed(settings, team, manager):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    with pytest.raises(services.CheckError, match="loopback address") as refused:
        save(team, manager, target="redis://:hunter2@127.0.0.1:6379/0")
    assert refused.value.field == "target" and "hunter2" not in str(refused.value)


def test_names_are_unique_per_team(team, manager):
    save(team, manager)
    with pytest.raises(services.CheckError, match="already has a check named"):
        save(team, manager)


def test_an_edit_without_the_password_keeps_the_saved_one(team, manager):
    check = save(team, manager, target="redis://:s3cret@127.0.0.1:6379/0")
    data = {f: getattr(check, f) for f in services.FIELDS} | {"target": "redis://127.0.0.1:6379/1"}
    updated = services.check_update(check=check, data=data, by=manager)
    assert updated.target == "redis://:s3cret@127.0.0.1:6379/1"
    entries = AuditEntry.objects.filter(action__startswith="check.")
    assert all("s3cret" not in str(e.before) + str(e.after) for e in entries)


# --- the tick --------------------------------------------------------------------------


def test_two_ticks_do_not_run_one_check_twice(team):
    check = tcp_check(team, free_port(), next_run_at=timezone.now())
    first = services.run_due_checks()
    second = services.run_due_checks()
    assert (first["ran"], second["ran"]) == (1, 0)
    check.refresh_from_db()
    assert CheckResult.objects.filter(dependency_check=check).count() == 1
    assert check.next_run_at > timezone.now() + timezone.timedelta(seconds=50)
    assert check.last_run_at is not None


def test_disabled_and_not_yet_due_checks_are_not_run(team):
    tcp_check(team, 1, name="paused", enabled=False)
    tcp_check(team, 1, name="later", next_run_at=timezone.now() + timezone.timedelta(minutes=1))
    assert services.run_due_checks()["ran"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_check_claimed_by_another_worker_is_skipped(team):
    check = tcp_check(team, 1)
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        with transaction.atomic():
            Check.objects.select_for_update().get(pk=check.pk)
            locked.set()
            release.wait(10)
        connection.close()

    worker = threading.Thread(target=other_worker)
    worker.start()
    try:
        assert locked.wait(10)
        assert services.claim_due() == []
    finally:
        release.set()
        worker.join()
    assert [c.pk for c in services.claim_due()] == [check.pk]
    assert services.claim_due() == []


def test_a_slow_check_does_not_hold_the_others_up(team, listening):
    slow = Check.objects.create(
        team=team,
        name="Hangs",
        kind=CheckKind.HTTP,
        target=f"http://127.0.0.1:{listening}/",
        timeout_seconds=1,
    )
    fast = [tcp_check(team, free_port(), name=f"fast {i}") for i in range(5)]
    started = time.monotonic()
    summary = services.run_due_checks()
    elapsed = time.monotonic() - started
    assert summary["ran"] == 6
    assert elapsed < 3, f"the tick took {elapsed:.2f} s"
    [result] = slow.results.all()
    assert not result.ok and result.detail == "No answer within 1 s."
    for check in fast:
        [result] = check.results.all()
        assert result.latency_ms < 500


def test_the_tick_deletes_results_older_than_a_week(team):
    check = tcp_check(team, 1, enabled=False)
    old = timezone.now() - timezone.timedelta(days=8)
    CheckResult.objects.create(dependency_check=check, at=old, ok=True)
    CheckResult.objects.create(dependency_check=check, ok=True)
    assert services.run_due_checks()["pruned"] == 1
    assert check.results.count() == 1


def test_the_celery_task_is_registered_by_its_name():
    from celery import current_app

    import checks.tasks  # noqa: F401

    assert "checks.tasks.run_due_checks" in current_app.tasks


# --- pages -----------------------------------------------------------------------------


@pytest.fixture
def redis_check(team, manager):
    return save(team, manager, name="Platform Redis", target="redis://:s3cret@127.0.0.1:6379/11")


FORM = {
    "name": "Model API",
    "kind": "http",
    "target": "http://127.0.0.1:1/",
    "expected_status": "200",
    "body_match": "",
    "query": "",
    "comparison": ">",
    "threshold": "",
    "interval_seconds": "60",
    "timeout_seconds": "5",
    "fail_after": "3",
    "recover_after": "2",
    "enabled": "on",
}


def test_a_manager_creates_a_check_from_the_form(team, manager):
    client = login(manager)
    assert client.get("/checks/new/").status_code == 200
    response = client.post("/checks/new/", FORM | {"team": team.pk})
    check = Check.objects.get(name="Model API")
    assert response.status_code == 302 and response.url == f"/checks/{check.pk}/"
    assert check.kind == "http" and check.team == team


def test_viewers_and_responders_cannot_create_checks(viewer, responder, team):
    for user in (viewer, responder):
        client = login(user)
        assert client.get("/checks/new/").status_code == 403
        assert client.post("/checks/new/", FORM | {"team": team.pk}).status_code == 403
    assert not Check.objects.exists()


def test_a_manager_cannot_pick_a_team_they_do_not_manage(team, manager, other_team):
    response = login(manager).post("/checks/new/", FORM | {"team": other_team.pk})
    assert response.status_code == 400 and not Check.objects.exists()


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"kind": "smtp"}, "kind", "Select a valid choice"),
        ({"body_match": "(unclosed"}, "body_match", "RE2"),
        ({"interval_seconds": "9" * 40}, "interval_seconds", "less than or equal to 86400"),
        ({"threshold": "1e999"}, "threshold", "Enter a number"),
        ({"kind": "prometheus", "threshold": "1"}, "query", "needs a query"),
        ({"target": "http://127.0.0.1:99999/"}, "target", "port must be a number"),
    ],
)
def test_bad_input_is_shown_in_the_form(team, manager, changes, field, words):
    response = login(manager).post("/checks/new/", FORM | {"team": team.pk} | changes)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and words in " ".join(errors[field]), errors
    assert not Check.objects.exists()


def test_a_nul_byte_is_refused_with_400_before_anything_is_saved(team, manager):
    response = login(manager).post("/checks/new/", FORM | {"team": team.pk, "name": "nul\x00"})
    assert response.status_code == 400 and b"NUL" in response.content
    assert not Check.objects.exists()


def test_forms_need_the_csrf_token(team, manager):
    client = Client(enforce_csrf_checks=True)
    client.login(username=manager.username, password=PASSWORD)
    assert client.post("/checks/new/", FORM | {"team": team.pk}).status_code == 403
    html = login(manager).get("/checks/new/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in html


def test_the_form_offers_the_seeds_alert_expressions(manager):
    client = login(manager)
    html = client.get("/checks/new/").content.decode()
    assert "Use example" in html
    response = client.get("/checks/new/?example=error_rate")
    form = response.context["form"]
    assert form.initial["query"] == (
        "(sum(rate(agent_errors_total[5m])) / sum(rate(agent_requests_total[5m])))"
    )
    assert (form.initial["comparison"], form.initial["threshold"]) == (">", 0.1)
    response = client.get("/checks/new/?example=p95_latency")
    assert "histogram_quantile(0.95, rate(agent_response_seconds_bucket[5m]))" in (
        response.content.decode()
    )


def test_the_password_is_never_shown_back(redis_check, manager, viewer):
    for user, url in [
        (viewer, f"/checks/{redis_check.pk}/"),
        (viewer, "/checks/"),
        (manager, f"/checks/{redis_check.pk}/edit/"),
    ]:
        html = login(user).get(url).content.decode()
        assert "s3cret" not in html, url
    edit = login(manager).get(f"/checks/{redis_check.pk}/edit/").content.decode()
    assert 'value="redis://127.0.0.1:6379/11"' in edit


def test_outsiders_get_404_and_do_not_see_the_check_listed(redis_check, outsider):
    client = login(outsider)
    for url in ("", "edit/"):
        assert client.get(f"/checks/{redis_check.pk}/{url}").status_code == 404
    assert client.post(f"/checks/{redis_check.pk}/run/").status_code == 404
    assert client.post(f"/checks/{redis_check.pk}/delete/").status_code == 404
    assert "Platform Redis" not in client.get("/checks/").content.decode()


def test_the_history_page_draws_the_results(redis_check, viewer):
    for i in range(30):
        services.record_result(redis_check, i % 7 != 0, 2.0 + i, "PONG." if i % 7 else "down")
    response = login(viewer).get(f"/checks/{redis_check.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<svg class="check-chart" role="img"' in html
    assert 'aria-label="Latency and outcome of the last 30 results"' in html
    assert html.count("<rect ") == 30
    assert html.count('fill="#b42318"') == 5  # failures 0, 7, 14, 21, 28
    assert "<polyline" in html and "31 ms" in html
    assert "Run now" not in html and "Edit check" not in html  # a viewer only looks


def test_the_history_page_keeps_its_query_count_as_results_grow(
    redis_check, viewer, django_assert_max_num_queries
):
    client = login(viewer)
    client.get(f"/checks/{redis_check.pk}/")
    for _ in range(150):
        services.record_result(redis_check, True, 1.0, "PONG.")
    with django_assert_max_num_queries(8):
        response = client.get(f"/checks/{redis_check.pk}/")
    assert response.content.decode().count("<rect ") == 100


def test_the_index_lists_the_teams_checks_and_keeps_the_probes(redis_check, viewer):
    services.record_result(redis_check, True, 1.0, "PONG.")
    html = login(viewer).get("/checks/").content.decode()
    assert "Platform Redis" in html and "PONG." in html
    assert "Vigil&#x27;s own health" in html or "Vigil's own health" in html
    assert "Add a check" not in html


def test_run_now_records_a_result(redis_check, responder, viewer):
    assert login(viewer).post(f"/checks/{redis_check.pk}/run/").status_code == 403
    response = login(responder).post(f"/checks/{redis_check.pk}/run/", follow=True)
    assert response.status_code == 200
    [result] = redis_check.results.all()
    assert result.ok and result.detail == "PONG."
    assert "Platform Redis passed: PONG." in response.content.decode()


def test_delete_asks_first_and_only_managers_delete(redis_check, manager, responder):
    assert login(responder).post(f"/checks/{redis_check.pk}/delete/").status_code == 403
    client = login(manager)
    response = client.post(f"/checks/{redis_check.pk}/delete/")
    assert response.status_code == 200 and "Delete Platform Redis?" in response.content.decode()
    assert Check.objects.filter(pk=redis_check.pk).exists()
    response = client.post(f"/checks/{redis_check.pk}/delete/", {"confirm": "yes"})
    assert response.status_code == 302 and not Check.objects.filter(pk=redis_check.pk).exists()


def test_an_edit_saves_and_shows_errors_in_the_form(redis_check, manager):
    client = login(manager)
    form = FORM | {"name": "Platform Redis", "kind": "redis", "target": ""}
    response = client.post(f"/checks/{redis_check.pk}/edit/", form | {"interval_seconds": "30"})
    assert response.status_code == 302
    redis_check.refresh_from_db()
    assert redis_check.interval_seconds == 30
    assert redis_check.target == "redis://:s3cret@127.0.0.1:6379/11"
    response = client.post(
        f"/checks/{redis_check.pk}/edit/",
        form | {"interval_seconds": "30", "timeout_seconds": "45"},
    )
    assert response.status_code == 400
    assert "shorter than the interval" in " ".join(
        response.context["form"].errors["timeout_seconds"]
    )


def test_the_index_makes_the_same_queries_at_2_and_20_checks(team, manager, viewer):
    from django.test.utils import CaptureQueriesContext

    client = login(viewer)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/checks/").status_code == 200
        return len(captured)

    for i in range(2):
        services.record_result(tcp_check(team, 1, name=f"c{i}"), True, 1.0, "ok")
    few = queries()
    for i in range(2, 20):
        services.record_result(tcp_check(team, 1, name=f"c{i}"), False, 1.0, "refused")
    assert queries() == few


def test_the_admin_shows_checks_with_the_password_redacted(redis_check):
    from tests.factories import UserFactory

    admin = UserFactory(is_staff=True, is_superuser=True)
    client = login(admin)
    for url in ("/admin/checks/check/", f"/admin/checks/check/{redis_check.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200
        assert "s3cret" not in response.content.decode() and "••••••" in response.content.decode()
