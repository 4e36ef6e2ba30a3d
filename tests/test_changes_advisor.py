"""The rollback advisor: the document's nine "When to Rollback" rules, each flipping the
advice as the document says, read from a fake Prometheus on 127.0.0.1 (one that answers, one
that is not there, one too slow) and from Debian's real Prometheus scraping an exporter at a
45% error rate; and its API (JSON fields, the incident's visibility, answers)."""

import json
import socket
import threading
import time
import urllib.parse
import urllib.request
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.tokens import api_token_create
from changes.advisor import (
    CRITERIA,
    NO_ROLLBACK,
    ROLLBACK,
    UNDECIDED,
    advice_as_json,
    advice_for,
    answer_record,
)
from changes.models import (
    DEFAULT_ERROR_RATE_QUERY,
    DEFAULT_LATENCY_QUERY,
    AdvisorAnswer,
    Service,
    TeamMetrics,
)
from changes.services import ChangeError, change_record
from teams.models import Role
from tests.factories import IncidentFactory, member
from tests.prometheus_server import running_prometheus

pytestmark = pytest.mark.django_db

ROLLBACK_CRITERIA = [c.name for c in CRITERIA if c.for_rollback]
DONT_CRITERIA = [c.name for c in CRITERIA if not c.for_rollback]
QUESTIONS = [c.name for c in CRITERIA if not c.metric]


class FakePrometheus:
    """/api/v1/query answering a chosen value per query: the error rate, the p95 latency now,
    and the p95 latency a week ago (the query with "offset 1w" in it). None: no data. `delay`:
    seconds to wait before answering."""

    def __init__(self):
        self.error_rate = 0.01
        self.latency = 0.2
        self.normal_latency = 0.2
        self.delay = 0.0
        self.queries = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parts.query).get("query", [""])[0]
                fake.queries.append(query)
                if fake.delay:
                    time.sleep(fake.delay)
                if "offset 1w" in query:
                    value = fake.normal_latency
                elif "agent_errors_total" in query:
                    value = fake.error_rate
                else:
                    value = fake.latency
                result = (
                    [] if value is None else [{"metric": {}, "value": [time.time(), str(value)]}]
                )
                body = json.dumps(
                    {"status": "success", "data": {"resultType": "vector", "result": result}}
                ).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # Vigil stopped waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _fresh_readings():
    # Readings are cached per (Prometheus, query); each test starts without any.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def fake():
    server = FakePrometheus()
    yield server
    server.close()


@pytest.fixture
def service(team):
    return Service.objects.create(team=team, name="checkout")


@pytest.fixture
def incident(team, service):
    return IncidentFactory(team=team, title="Checkout errors", affected_services=["checkout"])


@pytest.fixture
def measured(team, fake, incident):
    """The incident's team reads the fake Prometheus."""
    TeamMetrics.objects.create(team=team, prometheus_url=fake.url)
    return fake


def answer(incident, by, **answers):
    for criterion, value in answers.items():
        answer_record(incident=incident, criterion=criterion, answer=value, by=by)


def criterion(advice, name):
    return next(c for c in advice.criteria if c.name == name)


def calm(incident, by):
    """Every question answered no: with calm metrics nothing calls for a rollback."""
    answer(incident, by, **dict.fromkeys(QUESTIONS, "no"))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the nine rules -------------------------------------------------------------------------


def test_the_criteria_are_the_documents_nine_in_its_order():
    assert [c.name for c in CRITERIA] == [
        "error_rate",
        "latency",
        "user_facing_bugs",
        "data_corruption",
        "root_cause_unknown",
        "minor_impact",
        "fix_in_progress",
        "fix_faster",
        "rollback_loses_data",
    ]
    assert ROLLBACK_CRITERIA == [
        "error_rate",
        "latency",
        "user_facing_bugs",
        "data_corruption",
        "root_cause_unknown",
    ]
    assert [c.name for c in CRITERIA if c.metric] == ["error_rate", "latency"]
    assert CRITERIA[0].label == "Error rate > 10%"
    assert CRITERIA[1].label == "p95 latency > 2× normal"
    assert CRITERIA[5].label == "Minor issue (< 1% of users)"
    assert all(c.question.endswith("?") for c in CRITERIA)


def test_with_everything_known_and_nothing_met_it_advises_against_a_rollback(
    measured, incident, responder
):
    calm(incident, responder)
    advice = advice_for(incident=incident)
    assert advice.recommendation == NO_ROLLBACK
    assert advice.reason == "Don't roll back: nothing calls for a rollback."
    assert advice.prometheus_problem == ""
    assert criterion(advice, "error_rate").value == "1.0%"
    assert criterion(advice, "error_rate").source == "prometheus"
    assert criterion(advice, "latency").value == "0.2 s vs 0.2 s normal (1.0×)"
    assert all(c.met is False for c in advice.criteria)


def test_an_error_rate_above_ten_percent_calls_for_a_rollback(measured, incident, responder):
    calm(incident, responder)
    measured.error_rate = 0.45
    advice = advice_for(incident=incident)
    assert advice.recommendation == ROLLBACK
    assert advice.reason == "Roll back: error rate 45% > 10%."
    result = criterion(advice, "error_rate")
    assert (result.value, result.met, result.source) == ("45.0%", True, "prometheus")


def test_an_error_rate_of_exactly_ten_percent_does_not(measured, incident, responder):
    calm(incident, responder)
    measured.error_rate = 0.10
    assert advice_for(incident=incident).recommendation == NO_ROLLBACK


def test_a_p95_latency_above_twice_normal_calls_for_a_rollback(measured, incident, responder):
    calm(incident, responder)
    measured.latency, measured.normal_latency = 3.1, 1.2
    advice = advice_for(incident=incident)
    assert advice.recommendation == ROLLBACK
    assert advice.reason == "Roll back: p95 latency 3.1 s > 2× normal 1.2 s."
    assert criterion(advice, "latency").value == "3.1 s vs 1.2 s normal (2.6×)"


def test_a_p95_latency_of_twice_normal_does_not(measured, incident, responder):
    calm(incident, responder)
    measured.latency, measured.normal_latency = 2.4, 1.2
    assert advice_for(incident=incident).recommendation == NO_ROLLBACK


@pytest.mark.parametrize("name", ["user_facing_bugs", "data_corruption", "root_cause_unknown"])
def test_each_rollback_question_answered_yes_calls_for_a_rollback(
    measured, incident, responder, name
):
    calm(incident, responder)
    answer(incident, responder, **{name: "yes"})
    advice = advice_for(incident=incident)
    assert advice.recommendation == ROLLBACK
    assert advice.reason == f"Roll back: {next(c.because for c in CRITERIA if c.name == name)}."
    assert criterion(advice, name).source == "responder"


@pytest.mark.parametrize("name", DONT_CRITERIA)
def test_each_exception_answered_yes_wins_over_a_reason_to_roll_back(
    measured, incident, responder, name
):
    calm(incident, responder)
    measured.error_rate = 0.45
    assert advice_for(incident=incident).recommendation == ROLLBACK
    answer(incident, responder, **{name: "yes"})
    advice = advice_for(incident=incident)
    assert advice.recommendation == NO_ROLLBACK
    because = next(c.because for c in CRITERIA if c.name == name)
    assert advice.reason == (
        f"Don't roll back: {because}, an exception that outweighs error rate 45% > 10%."
    )


@pytest.mark.parametrize("name", DONT_CRITERIA)
def test_each_exception_alone_decides_while_other_questions_are_open(
    measured, incident, responder, name
):
    assert advice_for(incident=incident).recommendation == UNDECIDED
    answer(incident, responder, **{name: "yes"})
    advice = advice_for(incident=incident)
    assert advice.recommendation == NO_ROLLBACK
    assert advice.reason.startswith("Don't roll back: ")


def test_unanswered_questions_leave_it_undecided_and_are_named(measured, incident, responder):
    calm(incident, responder)
    answer(incident, responder, user_facing_bugs="unknown")
    AdvisorAnswer.objects.filter(criterion="fix_faster").delete()
    advice = advice_for(incident=incident)
    assert advice.recommendation == UNDECIDED
    assert advice.reason == (
        "Not enough to say: answer “Is there a user-facing bug?” and "
        "“Would a fix be faster than a rollback?”."
    )
    assert criterion(advice, "user_facing_bugs").value == "don't know"
    assert criterion(advice, "fix_faster").value == "not answered"
    assert criterion(advice, "fix_faster").source == "unanswered"


def test_an_answer_to_a_metric_prometheus_measured_is_not_used(measured, incident, responder):
    calm(incident, responder)
    answer(incident, responder, error_rate="yes")
    result = criterion(advice_for(incident=incident), "error_rate")
    assert (result.met, result.source, result.answer) == (False, "prometheus", "yes")


def test_without_a_normal_latency_the_responder_answers_the_latency(measured, incident, responder):
    calm(incident, responder)
    measured.latency, measured.normal_latency = 3.1, None
    result = criterion(advice_for(incident=incident), "latency")
    assert result.met is None and result.source == "unanswered"
    assert "no normal value" in result.value
    answer(incident, responder, latency="yes")
    advice = advice_for(incident=incident)
    assert criterion(advice, "latency").source == "responder"
    assert advice.recommendation == ROLLBACK
    assert advice.reason == "Roll back: p95 latency above 2× normal."


def test_a_normal_latency_of_zero_is_unknown(measured, incident, responder):
    measured.latency, measured.normal_latency = 0.5, 0
    assert criterion(advice_for(incident=incident), "latency").met is None


# --- when Prometheus cannot say ------------------------------------------------------------


def test_an_unreachable_prometheus_turns_the_metrics_into_questions(team, incident, responder):
    TeamMetrics.objects.create(team=team, prometheus_url=f"http://127.0.0.1:{closed_port()}")
    advice = advice_for(incident=incident)
    assert "unreachable" in advice.prometheus_problem
    assert "refused the connection" in advice.prometheus_problem
    for name in ("error_rate", "latency"):
        assert criterion(advice, name).source == "unanswered"
    assert advice.recommendation == UNDECIDED
    assert "“Is the error rate above 10%?”" in advice.reason
    answer(incident, responder, error_rate="yes")
    advice = advice_for(incident=incident)
    assert criterion(advice, "error_rate").source == "responder"
    assert advice.recommendation == ROLLBACK
    assert advice.reason == "Roll back: error rate above 10%."


def test_a_slow_prometheus_times_out_and_the_advice_comes_from_answers(
    settings, measured, incident, responder
):
    settings.PROMETHEUS_QUERY_TIMEOUT = 0.3
    measured.delay = 5
    started = time.monotonic()
    advice = advice_for(incident=incident)
    assert time.monotonic() - started < 4  # one query waited for, not one per criterion
    assert "timed out" in advice.prometheus_problem
    assert criterion(advice, "latency").source == "unanswered"
    calm(incident, responder)
    answer(incident, responder, error_rate="no", latency="no")
    advice = advice_for(incident=incident)
    assert advice.recommendation == NO_ROLLBACK
    assert advice.reason == "Don't roll back: nothing calls for a rollback."


def test_no_prometheus_at_all_is_said(settings, incident):
    settings.PROMETHEUS_URL = ""
    advice = advice_for(incident=incident)
    assert advice.prometheus_url == ""
    assert advice.prometheus_problem == "No Prometheus is set for this team (nor PROMETHEUS_URL)."
    assert criterion(advice, "error_rate").source == "unanswered"


def test_a_query_with_no_data_is_said(measured, incident):
    measured.error_rate = None
    advice = advice_for(incident=incident)
    assert "had no data for the error-rate query" in advice.prometheus_problem
    assert criterion(advice, "error_rate").source == "unanswered"
    assert criterion(advice, "latency").source == "prometheus"


def test_the_prometheus_password_is_never_shown(team, fake, incident):
    host = fake.url.removeprefix("http://")
    TeamMetrics.objects.create(team=team, prometheus_url=f"http://vigil:hunter2@{host}")
    fake.error_rate = None
    advice = advice_for(incident=incident)
    as_text = json.dumps(advice_as_json(advice), ensure_ascii=False)
    assert "hunter2" not in as_text and "hunter2" not in advice.prometheus_problem
    assert advice.prometheus_url == f"http://vigil:••••••@{host}"


def test_readings_are_reused_for_thirty_seconds(measured, incident):
    advice_for(incident=incident)
    asked = len(measured.queries)
    assert asked == 3  # error rate, p95 latency, p95 latency a week ago
    advice_for(incident=incident)
    assert len(measured.queries) == asked


def test_a_failed_reading_is_reused_too(settings, measured, incident):
    settings.PROMETHEUS_QUERY_TIMEOUT = 0.3
    measured.delay = 2
    advice_for(incident=incident)
    asked = len(measured.queries)
    again = advice_for(incident=incident)
    assert len(measured.queries) == asked
    assert "timed out" in again.prometheus_problem


# --- which service ------------------------------------------------------------------------


def test_the_suspect_changes_service_is_read(team, measured, service, incident):
    Service.objects.create(team=team, name="search")
    change_record(
        team=team,
        service="search",
        summary="Deploy search v2",
        source="api",
        occurred_at=incident.started_at - timedelta(minutes=5),
    )
    assert advice_for(incident=incident).service.name == "search"


def test_an_affected_service_of_the_team_is_read(team, measured, service):
    Service.objects.create(team=team, name="search")
    incident = IncidentFactory(team=team, affected_services=["unknown", "search"])
    assert advice_for(incident=incident).service.name == "search"


def test_the_teams_only_service_is_read(team, measured, service):
    incident = IncidentFactory(team=team)
    assert advice_for(incident=incident).service == service


def test_without_a_service_nothing_is_read(team, measured, service):
    Service.objects.create(team=team, name="search")
    incident = IncidentFactory(team=team)
    advice = advice_for(incident=incident)
    assert advice.service is None
    assert advice.prometheus_problem.startswith("No service is known")
    assert measured.queries == []


def test_a_service_without_queries_is_asked_instead(measured, service, incident):
    Service.objects.filter(pk=service.pk).update(error_rate_query="", latency_query="")
    advice = advice_for(incident=incident)
    assert "checkout has no error-rate query." in advice.prometheus_problem
    assert criterion(advice, "latency").source == "unanswered"
    assert measured.queries == []


# --- answers and the snapshot --------------------------------------------------------------


def test_an_answer_is_stored_once_and_changed(incident, responder):
    answer(incident, responder, user_facing_bugs="yes")
    answer(incident, responder, user_facing_bugs="no")
    rows = list(AdvisorAnswer.objects.filter(incident=incident))
    assert [(r.criterion, r.answer, r.answered_by) for r in rows] == [
        ("user_facing_bugs", "no", responder)
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [("nonsense", "yes"), ("user_facing_bugs", "maybe"), ("user\x00", "yes"), (None, None)],
)
def test_it_refuses_an_unknown_criterion_or_answer(incident, responder, name, value):
    with pytest.raises(ChangeError):
        answer_record(incident=incident, criterion=name, answer=value, by=responder)
    assert not AdvisorAnswer.objects.exists()


def test_the_snapshot_is_the_json(measured, incident, responder):
    measured.error_rate = 0.45
    advice = advice_for(incident=incident)
    snapshot = advice.as_snapshot()
    assert snapshot == advice_as_json(advice)
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert set(snapshot) == {"recommendation", "reason", "criteria", "service", "prometheus"}
    assert snapshot["service"] == "checkout"
    assert snapshot["prometheus"] == {"url": measured.url, "problem": ""}
    assert snapshot["criteria"][0] == {
        "name": "error_rate",
        "label": "Error rate > 10%",
        "value": "45.0%",
        "met": True,
        "source": "prometheus",
        "for_rollback": True,
    }


# --- Debian's Prometheus ----------------------------------------------------------------------


class AgentExporter:
    """An agent platform's /metrics: per scrape 20 requests and 9 errors (45%), and 10
    responses, 8 under 0.5 s and 2 between 1 s and 5 s."""

    def __init__(self):
        self.scrapes = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                exporter.scrapes += 1
                n = exporter.scrapes
                buckets = {"0.5": 8 * n, "1": 8 * n, "5": 10 * n, "+Inf": 10 * n}
                lines = [
                    "# TYPE agent_requests_total counter",
                    f"agent_requests_total {20 * n}",
                    "# TYPE agent_errors_total counter",
                    f"agent_errors_total {9 * n}",
                    "# TYPE agent_response_seconds histogram",
                    *(
                        f'agent_response_seconds_bucket{{le="{le}"}} {c}'
                        for le, c in buckets.items()
                    ),
                    f"agent_response_seconds_sum {6 * n}",
                    f"agent_response_seconds_count {10 * n}",
                ]
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _has_values(base):
    for query in (DEFAULT_ERROR_RATE_QUERY, DEFAULT_LATENCY_QUERY):
        url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        with urllib.request.urlopen(url, timeout=2) as response:
            if not json.load(response)["data"]["result"]:
                return False
    return True


@pytest.fixture(scope="module")
def real_prometheus():
    exporter = AgentExporter()
    try:
        with running_prometheus(exporter.port, ready=_has_values, timeout=60) as base:
            yield base
    finally:
        exporter.close()


@pytest.mark.slow
def test_debians_prometheus_reads_a_45_percent_error_rate_and_advises_a_rollback(
    real_prometheus, team, incident
):
    TeamMetrics.objects.create(team=team, prometheus_url=real_prometheus)
    advice = advice_for(incident=incident)
    result = criterion(advice, "error_rate")
    assert (result.value, result.met, result.source) == ("45.0%", True, "prometheus")
    assert advice.recommendation == ROLLBACK
    assert advice.reason == "Roll back: error rate 45% > 10%."
    # A Prometheus started a moment ago has no week-old normal: the latency is a question.
    latency = criterion(advice, "latency")
    assert latency.met is None and "no normal value" in latency.value


# --- the API ----------------------------------------------------------------------------------


def _auth(user):
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _advice_url(incident):
    return f"/api/v1/incidents/{incident.pk}/rollback-advice"


def test_the_api_gives_the_advice(client, measured, incident, viewer):
    measured.error_rate = 0.45
    response = client.get(_advice_url(incident), **_auth(viewer))
    assert response.status_code == 200
    body = response.json()
    assert body["recommendation"] == "rollback"
    assert body["reason"] == "Roll back: error rate 45% > 10%."
    assert body["service"] == "checkout"
    assert body["prometheus"] == {"url": measured.url, "problem": ""}
    assert [c["name"] for c in body["criteria"]] == [c.name for c in CRITERIA]
    assert set(body["criteria"][0]) == {"name", "label", "value", "met", "source", "for_rollback"}


def test_the_api_needs_a_token(client, incident):
    assert client.get(_advice_url(incident)).status_code == 401
    response = client.post(
        _advice_url(incident) + "/answers",
        {"criterion": "user_facing_bugs", "answer": "yes"},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert not AdvisorAnswer.objects.exists()


def test_a_private_incident_is_a_404_to_outsiders(client, team, service, outsider):
    incident = IncidentFactory(team=team, is_private=True, affected_services=["checkout"])
    assert client.get(_advice_url(incident), **_auth(outsider)).status_code == 404
    response = client.post(
        _advice_url(incident) + "/answers",
        {"criterion": "user_facing_bugs", "answer": "yes"},
        content_type="application/json",
        **_auth(outsider),
    )
    assert response.status_code == 404
    assert (
        client.get("/api/v1/incidents/999999999/rollback-advice", **_auth(outsider)).status_code
        == 404
    )
    assert not AdvisorAnswer.objects.exists()


def test_a_responder_answers_and_gets_the_new_advice(client, measured, incident, responder):
    response = client.post(
        _advice_url(incident) + "/answers",
        {"criterion": "rollback_loses_data", "answer": "yes"},
        content_type="application/json",
        **_auth(responder),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["recommendation"] == "no_rollback"
    assert body["reason"] == "Don't roll back: a rollback would cause data loss."
    row = AdvisorAnswer.objects.get(incident=incident)
    assert (row.criterion, row.answer, row.answered_by) == ("rollback_loses_data", "yes", responder)


def test_a_viewer_may_not_answer(client, incident, viewer):
    response = client.post(
        _advice_url(incident) + "/answers",
        {"criterion": "user_facing_bugs", "answer": "yes"},
        content_type="application/json",
        **_auth(viewer),
    )
    assert response.status_code == 403
    assert not AdvisorAnswer.objects.exists()


def test_a_member_of_another_team_may_not_answer(client, incident, outsider):
    response = client.post(
        _advice_url(incident) + "/answers",
        {"criterion": "user_facing_bugs", "answer": "yes"},
        content_type="application/json",
        **_auth(outsider),
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"criterion": "nonsense", "answer": "yes"},
        {"criterion": "user_facing_bugs", "answer": "maybe"},
        {"criterion": "user_facing_bugs\x00", "answer": "yes"},
        {"criterion": "user_facing_bugs"},
        {"criterion": ["user_facing_bugs"], "answer": "yes"},
    ],
)
def test_a_bad_answer_is_a_400_and_stores_nothing(client, incident, responder, body):
    response = client.post(
        _advice_url(incident) + "/answers",
        body,
        content_type="application/json",
        **_auth(responder),
    )
    assert response.status_code == 400
    assert not AdvisorAnswer.objects.exists()


def test_a_body_that_is_not_json_is_a_400(client, incident, responder):
    for raw in (b"\xff\xfe not json", b"[" * 10_000):
        response = client.post(
            _advice_url(incident) + "/answers",
            raw,
            content_type="application/json",
            **_auth(responder),
        )
        assert response.status_code == 400
    assert not AdvisorAnswer.objects.exists()


def test_the_query_count_of_the_advice_does_not_grow_with_answers(
    django_assert_max_num_queries, measured, incident, responder, team
):
    calm(incident, responder)
    for _ in range(10):
        change_record(
            team=team,
            service="checkout",
            summary="Deploy",
            source="api",
            occurred_at=timezone.now() - timedelta(minutes=30),
        )
    advice_for(incident=incident)  # readings cached
    with django_assert_max_num_queries(5):
        advice_for(incident=incident)


def test_the_manager_role_is_a_responder_too(client, team, incident):
    manager = member(team, Role.MANAGER)
    response = client.post(
        _advice_url(incident) + "/answers",
        {"criterion": "user_facing_bugs", "answer": "no"},
        content_type="application/json",
        **_auth(manager),
    )
    assert response.status_code == 200
