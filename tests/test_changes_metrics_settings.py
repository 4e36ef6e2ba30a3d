"""The team metrics settings page: a manager sets the team's Prometheus and each service's
queries (audited, the password never shown back), everyone else is refused, an address Vigil
may not reach is refused at save, and the queries can be tested without saving."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from changes.models import DEFAULT_ERROR_RATE_QUERY, Service, TeamMetrics
from teams.models import Role
from tests.factories import member

pytestmark = pytest.mark.django_db

ERRORS = "sum(rate(http_errors_total[5m])) / sum(rate(http_requests_total[5m]))"
LATENCY = "histogram_quantile(0.95, sum by (le) (rate(http_seconds_bucket[5m])))"


@pytest.fixture
def manager(team):
    return member(team, Role.MANAGER, username="morgan")


@pytest.fixture
def checkout(team):
    return Service.objects.create(team=team, name="checkout")


@pytest.fixture
def metrics_page(team):
    return reverse("changes_team_metrics", args=[team.slug])


def form_data(checkout, url, **changes):
    data = {
        "prometheus_url": url,
        f"error_rate_query_{checkout.pk}": ERRORS,
        f"latency_query_{checkout.pk}": LATENCY,
    }
    return data | changes


def test_a_manager_saves_the_url_and_the_queries(client, manager, checkout, metrics_page, team):
    client.force_login(manager)
    response = client.get(metrics_page)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'for="id_prometheus_url"' in html
    assert f'for="id_error_rate_query_{checkout.pk}"' in html
    assert f'for="id_latency_query_{checkout.pk}"' in html
    assert DEFAULT_ERROR_RATE_QUERY in html  # the seed's query until the team sets its own

    response = client.post(metrics_page, form_data(checkout, "http://127.0.0.1:9090"))
    assert response.status_code == 302 and response["Location"] == metrics_page
    assert TeamMetrics.objects.get(team=team).prometheus_url == "http://127.0.0.1:9090"
    checkout.refresh_from_db()
    assert (checkout.error_rate_query, checkout.latency_query) == (ERRORS, LATENCY)
    entry = AuditEntry.objects.get(action="changes.team_metrics.update")
    assert entry.actor == manager
    assert entry.after["prometheus_url"] == "http://127.0.0.1:9090"
    assert entry.after["services"]["checkout"]["error_rate_query"] == ERRORS
    assert entry.before["services"]["checkout"]["error_rate_query"] == DEFAULT_ERROR_RATE_QUERY


def test_an_empty_query_means_not_measured_and_an_empty_url_the_default(
    client, manager, checkout, metrics_page, team
):
    client.force_login(manager)
    data = form_data(checkout, "", **{f"latency_query_{checkout.pk}": "  "})
    assert client.post(metrics_page, data).status_code == 302
    assert TeamMetrics.objects.get(team=team).prometheus_url == ""
    checkout.refresh_from_db()
    assert checkout.latency_query == ""


def test_a_responder_viewer_and_outsider_get_a_403(
    client, responder, viewer, outsider, checkout, metrics_page, team
):
    for person in (responder, viewer, outsider):
        client.force_login(person)
        assert client.get(metrics_page).status_code == 403
        assert (
            client.post(metrics_page, form_data(checkout, "http://127.0.0.1:9090")).status_code
            == 403
        )
    assert not TeamMetrics.objects.exists()
    checkout.refresh_from_db()
    assert checkout.error_rate_query == DEFAULT_ERROR_RATE_QUERY
    assert not AuditEntry.objects.exists()


def test_someone_signed_out_is_sent_to_sign_in(client, metrics_page):
    response = client.get(metrics_page)
    assert response.status_code == 302 and "login" in response["Location"]


def test_an_unknown_team_is_a_404(client, manager):
    client.force_login(manager)
    assert client.get(reverse("changes_team_metrics", args=["nobody"])).status_code == 404


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1:9090", "loopback"),
        ("http://127.0.0.1:9090", "https://"),
        ("https://10.0.0.8:9090", "private-network"),
        ("https://169.254.169.254/", "link-local"),
    ],
)
def test_an_address_vigil_may_not_reach_is_refused_when_not_allowed(
    settings, client, manager, checkout, metrics_page, url, reason
):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    client.force_login(manager)
    response = client.post(metrics_page, form_data(checkout, url))
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not TeamMetrics.objects.exists()
    checkout.refresh_from_db()
    assert checkout.error_rate_query == DEFAULT_ERROR_RATE_QUERY


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "not a url", "http://127.0.0.1:99999", "http://\x00host/"]
)
def test_something_that_is_not_a_prometheus_url_is_refused(
    client, manager, checkout, metrics_page, url
):
    client.force_login(manager)
    assert client.post(metrics_page, form_data(checkout, url)).status_code == 400
    assert not TeamMetrics.objects.exists()


def test_a_query_that_cannot_be_stored_is_refused(client, manager, checkout, metrics_page):
    client.force_login(manager)
    data = form_data(checkout, "", **{f"error_rate_query_{checkout.pk}": "up\x00"})
    response = client.post(metrics_page, data)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()
    checkout.refresh_from_db()
    assert checkout.error_rate_query == DEFAULT_ERROR_RATE_QUERY


def test_the_password_is_masked_and_kept(client, manager, checkout, metrics_page, team):
    client.force_login(manager)
    saved = "http://vigil:s3cret-pw@127.0.0.1:9090"
    assert client.post(metrics_page, form_data(checkout, saved)).status_code == 302
    html = client.get(metrics_page).content.decode()
    assert "s3cret-pw" not in html
    assert 'value="http://vigil@127.0.0.1:9090"' in html
    assert "A password is saved." in html
    entry = AuditEntry.objects.get()
    assert "s3cret-pw" not in json.dumps([entry.before, entry.after])

    # Saved again as shown (without the password): the saved one is kept.
    assert (
        client.post(metrics_page, form_data(checkout, "http://vigil@127.0.0.1:9090")).status_code
        == 302
    )
    assert TeamMetrics.objects.get(team=team).prometheus_url == saved
    # Another server: the password is not for it.
    assert (
        client.post(metrics_page, form_data(checkout, "http://vigil@127.0.0.1:9091")).status_code
        == 302
    )
    assert TeamMetrics.objects.get(team=team).prometheus_url == "http://vigil@127.0.0.1:9091"
    assert all("s3cret-pw" not in json.dumps([e.before, e.after]) for e in AuditEntry.objects.all())


def test_a_url_without_a_user_name_drops_the_password(
    client, manager, checkout, metrics_page, team
):
    client.force_login(manager)
    client.post(metrics_page, form_data(checkout, "http://vigil:s3cret-pw@127.0.0.1:9090"))
    client.post(metrics_page, form_data(checkout, "http://127.0.0.1:9090"))
    assert TeamMetrics.objects.get(team=team).prometheus_url == "http://127.0.0.1:9090"


def test_a_password_just_typed_is_not_shown_back_with_an_error(
    client, manager, checkout, metrics_page
):
    client.force_login(manager)
    data = form_data(
        checkout,
        "http://vigil:typed-pw@127.0.0.1:9090",
        **{f"latency_query_{checkout.pk}": "up\x00"},
    )
    response = client.post(metrics_page, data)
    assert response.status_code == 400
    assert "typed-pw" not in response.content.decode()


@pytest.fixture
def fake_prometheus():
    """Answers every instant query with 0.45, after `delay` seconds."""
    state = {"delay": 0.0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(state["delay"])
            body = json.dumps(
                {
                    "status": "success",
                    "data": {
                        "resultType": "vector",
                        "result": [{"metric": {}, "value": [time.time(), "0.45"]}],
                    },
                }
            ).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


def test_the_queries_can_be_tested_without_saving(
    client, manager, checkout, metrics_page, fake_prometheus
):
    url, _ = fake_prometheus
    client.force_login(manager)
    response = client.post(metrics_page, form_data(checkout, url) | {"test": str(checkout.pk)})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Error rate: 45.0%." in html
    assert "p95 latency: 0.45 s." in html
    assert not TeamMetrics.objects.exists()
    checkout.refresh_from_db()
    assert checkout.error_rate_query == DEFAULT_ERROR_RATE_QUERY
    assert not AuditEntry.objects.exists()


def test_a_test_against_a_slow_prometheus_says_so(
    settings, client, manager, checkout, metrics_page, fake_prometheus
):
    settings.PROMETHEUS_QUERY_TIMEOUT = 0.3
    url, state = fake_prometheus
    state["delay"] = 3
    client.force_login(manager)
    response = client.post(metrics_page, form_data(checkout, url) | {"test": str(checkout.pk)})
    assert response.status_code == 200
    assert "did not answer within" in response.content.decode()


def test_another_teams_service_cannot_be_changed_through_the_form(
    client, manager, checkout, metrics_page, other_team
):
    theirs = Service.objects.create(team=other_team, name="ledger")
    client.force_login(manager)
    data = form_data(checkout, "") | {f"error_rate_query_{theirs.pk}": "up"}
    assert client.post(metrics_page, data).status_code == 302
    theirs.refresh_from_db()
    assert theirs.error_rate_query == DEFAULT_ERROR_RATE_QUERY
