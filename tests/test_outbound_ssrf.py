"""Outgoing URLs people give Vigil (webhook and Slack contact methods, team chat channels)
reach only public https receivers: refused on save, checked again and pinned on send, never
redirected; the delivery log's raw errors are for the notification's owner and admins."""

import json
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from common.outbound import OutboundRefused, check_url
from oncall.models import ContactMethod
from paging.delivery import deliver
from paging.models import DeliveryAttempt, Notification
from paging.services import engine_tick
from teams.models import Role, TeamRouting
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)
from tests.factories import PASSWORD, IncidentFactory, TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db

UNSAFE = {
    "https://127.0.0.1/hook": "127.0.0.1 is a loopback address",
    "https://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local address",
    "https://10.0.0.5/hook": "10.0.0.5 is a private-network address",
    "https://[::1]:6379/": "::1 is a loopback address",
    "http://localhost/hook": "plain http:// is only for receivers an operator allowed",
    "https://localhost/hook": "localhost resolves to a loopback address",
    "https://[::ffff:127.0.0.1]/hook": "::ffff:127.0.0.1 is a loopback address",
    "https://[::ffff:169.254.169.254]/": "is a link-local address",
    "https://2130706433/hook": "2130706433 resolves to a loopback address",
    "https://0x7f.1/hook": "0x7f.1 resolves to a loopback address",
    "http://93.184.215.14/hook": "plain http:// is only for receivers an operator allowed",
    "http://hooks.slack.com/services/T0/B0/x": "Use https://",
    "ftp://hooks.example.net/x": "Use an https:// URL",
}


@pytest.fixture(autouse=True)
def _no_allow_list(settings, _outbound_allows_loopback):
    settings.OUTBOUND_ALLOWED_HOSTS = []


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


class Receiver:
    """An HTTP(S) receiver on loopback that records every connection and request and answers
    `status` (with a Location when `location` is set); `tls`: (certificate, key) files."""

    def __init__(self, host="127.0.0.1", port=0, *, status=200, location=None, tls=None):
        self.connections, self.requests, self.server_names = [], [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self):
                receiver.connections.append(self.client_address)
                super().setup()

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host, self.port = host, self.server.server_address[1]
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path="/hook", scheme="http"):
        return f"{scheme}://{self.host}:{self.port}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notification(*, target, channel="webhook", user=None, incident=None, key="n1"):
    return Notification.objects.create(
        key=key,
        incident=incident,
        user=user,
        channel=channel,
        purpose="page" if user else "chat",
        target=target,
        payload={"text": "Vigil [CRITICAL] AgentHighErrorRate"},
    )


# --- on save ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["webhook", "slack"])
@pytest.mark.parametrize(("url", "reason"), list(UNSAFE.items()))
def test_a_contact_method_to_an_unsafe_url_is_refused_with_the_reason(client, kind, url, reason):
    person = member(TeamFactory())
    login(client, person)
    response = client.post(reverse("oncall_contacts"), {"kind": kind, "value": url})
    assert response.status_code == 400
    assert reason in response.context["form"].errors["value"][0]
    assert not ContactMethod.objects.exists()


@pytest.mark.parametrize(("url", "reason"), list(UNSAFE.items()))
def test_a_team_chat_webhook_to_an_unsafe_url_is_refused_with_the_reason(client, url, reason):
    team, people = oncall_team()
    login(client, people["lead"])
    response = client.post(
        f"/alerts/teams/{team.slug}/routing/",
        {
            "business_days": ["0", "1", "2", "3", "4"],
            "business_start": "09:00",
            "business_end": "17:00",
            "incidents_webhook_url": "",
            "oncall_webhook_url": url,
            "alerts_webhook_url": "",
            "pagerduty_routing_key": "",
            "severity_critical": "SEV1",
            "severity_warning": "SEV2",
        },
    )
    assert response.status_code == 400
    assert reason in " ".join(response.context["form"].errors["oncall_webhook_url"])
    assert TeamRouting.objects.get(team=team).oncall_webhook_url == ""


def test_the_admin_refuses_an_unsafe_contact_method_and_chat_url(client):
    team, people = oncall_team()
    routing = TeamRouting.objects.get(team=team)  # made with the team
    admin = UserFactory(is_staff=True, is_superuser=True)
    login(client, admin)
    response = client.post(
        "/admin/oncall/contactmethod/add/",
        {"user": people["primary"].pk, "kind": "webhook", "value": "https://169.254.169.254/"},
    )
    assert response.status_code == 200 and "is a link-local address" in response.content.decode()
    assert not ContactMethod.objects.filter(kind="webhook").exists()
    response = client.post(
        f"/admin/teams/teamrouting/{routing.pk}/change/",
        {
            "team": team.pk,
            "business_days": "[0, 1, 2, 3, 4]",
            "business_start": "09:00:00",
            "business_end": "17:00:00",
            "severity_map": json.dumps(routing.severity_map),
            "incidents_webhook_url": "https://127.0.0.1/incidents",
            "oncall_webhook_url": "",
            "alerts_webhook_url": "",
            "pagerduty_routing_key": "",
            "reopen_window_minutes": "30",
        },
    )
    assert response.status_code == 200 and "is a loopback address" in response.content.decode()
    routing.refresh_from_db()
    assert routing.incidents_webhook_url == ""


def test_the_operators_allow_list_lets_an_internal_receiver_through(client, settings):
    with pytest.raises(OutboundRefused, match="loopback"):
        check_url("https://127.0.0.1:9/hook")
    with pytest.raises(OutboundRefused, match="plain http"):
        check_url("http://127.0.0.1:9/hook")
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    assert check_url("http://127.0.0.1:9/hook").addresses == ("127.0.0.1",)
    settings.OUTBOUND_ALLOWED_HOSTS = ["10.0.0.0/8", "localhost"]
    assert check_url("http://10.0.0.5/hook").addresses == ("10.0.0.5",)
    assert check_url("http://localhost:9/hook").host == "localhost"
    with pytest.raises(OutboundRefused, match="169.254.169.254 is a link-local"):
        check_url("https://169.254.169.254/")

    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    person = member(TeamFactory())
    login(client, person)
    url = "http://127.0.0.1:9/hook"
    response = client.post(reverse("oncall_contacts"), {"kind": "webhook", "value": url})
    assert response.status_code == 302
    assert ContactMethod.objects.get(user=person).value == url


# --- on send ------------------------------------------------------------------------------


def test_a_stored_loopback_contact_fails_for_good_without_a_connection(client):
    team, people = oncall_team(contacts=False)
    with Receiver() as receiver:
        # Written before the check existed (or straight into the database): no form saw it.
        url = receiver.url(scheme="https")
        ContactMethod.objects.create(user=people["primary"], kind="webhook", value=url)
        integration, token = integration_for(team)
        assert post(client, integration, am_payload(), token=token).status_code == 202
        engine_tick()
        hook = Notification.objects.get(channel="webhook")
        assert deliver(hook.pk) == "failed"
    hook.refresh_from_db()
    assert hook.state == "failed" and hook.attempts == 1
    assert "127.0.0.1 is a loopback address" in hook.last_error
    assert receiver.connections == []


@pytest.mark.parametrize(
    ("channel", "target"),
    [("slack", "https://169.254.169.254/latest/meta-data/"), ("webhook", "https://[::1]:6379/")],
)
def test_a_stored_internal_target_fails_at_once_whatever_the_channel(channel, target):
    n = notification(target=target, channel=channel)
    assert deliver(n.pk) == "failed"
    n.refresh_from_db()
    assert n.state == "failed" and n.attempts == 1 and "Not sent to" in n.last_error


def test_a_name_that_does_not_resolve_is_tried_again_later():
    n = notification(target="https://receiver.invalid/hook")
    assert deliver(n.pk) == "retry"
    n.refresh_from_db()
    reason = "receiver.invalid could not be resolved."
    assert n.state == "pending" and n.last_error == f"Could not reach receiver.invalid: {reason}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_the_signature_goes_nowhere_else(settings, status):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    with Receiver() as second, Receiver(status=status, location=second.url("/stolen")) as first:
        n = notification(target=first.url())
        assert deliver(n.pk) == "retry"
    assert len(first.requests) == 1 and "X-Vigil-Signature" in first.requests[0]["headers"]
    assert second.connections == []
    attempt = DeliveryAttempt.objects.get(notification=n)
    assert not attempt.ok and attempt.status_code == status
    assert attempt.error == f"HTTP {status} from 127.0.0.1:{first.port}: redirect refused"


def test_operator_endpoints_are_trusted_but_still_not_redirected(settings):
    """PAGERDUTY_EVENTS_URL and SMS_API_URL are the operator's: loopback is fine there."""
    with Receiver() as receiver:
        settings.PAGERDUTY_EVENTS_URL = receiver.url("/v2/enqueue")
        n = notification(target=settings.PAGERDUTY_EVENTS_URL, channel="pagerduty")
        assert deliver(n.pk) == "sent"
    assert len(receiver.requests) == 1
    with Receiver() as second, Receiver(status=302, location=second.url()) as first:
        settings.SMS_API_URL = first.url("")
        settings.SMS_ACCOUNT_SID, settings.SMS_AUTH_TOKEN = "AC123", "token"
        settings.SMS_FROM_NUMBER = "+15005550006"
        n = Notification.objects.create(
            key="sms",
            channel="sms",
            purpose="page",
            target="+4917012345678",
            payload={"to": "+4917012345678", "body": "Vigil [CRITICAL] Test"},
        )
        assert deliver(n.pk) == "retry"
    assert len(first.requests) == 1 and second.connections == []
    assert "redirect refused" in Notification.objects.get(pk=n.pk).last_error


@pytest.fixture
def rebinding_dns(monkeypatch):
    """receiver.vigil.test answers 127.0.0.1 the first time it is asked and 127.0.0.2 after:
    a name whose owner changes its address between Vigil's check and the connection."""
    real, asked = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "receiver.vigil.test":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = "127.0.0.1" if len(asked) == 1 else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_it_connects_to_the_address_it_checked_and_checks_again_on_the_next_send(
    settings, rebinding_dns
):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1/32"]
    with Receiver() as checked, Receiver("127.0.0.2", checked.port) as other:
        url = f"http://receiver.vigil.test:{checked.port}/hook"
        assert deliver(notification(target=url).pk) == "sent"
        assert len(checked.requests) == 1 and other.connections == []
        host = checked.requests[0]["headers"]["Host"]
        assert host == f"receiver.vigil.test:{checked.port}"

        # The name now resolves to an address nobody allowed: refused, nothing sent there.
        again = notification(target=url, key="n2")
        assert deliver(again.pk) == "failed"
    assert other.connections == [] and len(checked.connections) == 1
    assert Notification.objects.get(pk=again.pk).last_error.startswith(
        f"Not sent to receiver.vigil.test:{checked.port}: "
    )


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for receiver.vigil.test only (no IP), trusted as a CA."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=receiver.vigil.test",
            "-addext", "subjectAltName=DNS:receiver.vigil.test",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_to_the_pinned_address_keeps_the_name_for_sni_and_the_certificate(
    settings, monkeypatch, rebinding_dns, certificate
):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1/32"]
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with (
        Receiver(tls=certificate) as checked,
        Receiver("127.0.0.2", checked.port, tls=certificate) as other,
    ):
        url = f"https://receiver.vigil.test:{checked.port}/hook"
        n = notification(target=url)
        assert deliver(n.pk) == "sent", Notification.objects.get(pk=n.pk).last_error
        assert rebinding_dns == ["receiver.vigil.test"]  # checked once, then connected there
        assert checked.server_names == ["receiver.vigil.test"] and len(checked.requests) == 1

        again = notification(target=url, key="n2")
        assert deliver(again.pk) == "failed"
    assert other.connections == [] and len(checked.connections) == 1
    assert "receiver.vigil.test resolves to a loopback address" in (
        Notification.objects.get(pk=again.pk).last_error
    )


# --- the delivery log ---------------------------------------------------------------------


@pytest.fixture
def failed_log(settings):
    """A page and a team-chat post that both failed with "Connection refused"."""
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    team = TeamFactory()
    owner = member(team, username="owner")
    incident = IncidentFactory(team=team)
    target = f"http://127.0.0.1:{closed_port()}/hook"
    settings.PAGING_MAX_ATTEMPTS = 1
    page = notification(target=target, user=owner, incident=incident)
    chat = notification(target=target, incident=incident, key="chat")
    assert deliver(page.pk) == "failed" and deliver(chat.pk) == "failed"
    assert "Connection refused" in DeliveryAttempt.objects.get(notification=page).error
    return team, owner, incident


def panel_for(client, user, incident):
    login(client, user)
    response = client.get(incident.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    return html[html.index("Delivery log") :]


def test_the_owner_and_an_administrator_see_the_raw_error(client, failed_log):
    team, owner, incident = failed_log
    owners = panel_for(client, owner, incident)
    assert owners.count("Connection refused") == 1  # their page, not the team's chat post
    admin = UserFactory(is_staff=True, is_superuser=True)
    assert panel_for(client, admin, incident).count("Connection refused") == 2


def test_another_responder_sees_only_that_it_could_not_be_delivered(client, failed_log):
    team, owner, incident = failed_log
    html = panel_for(client, member(team, username="teammate"), incident)
    assert "Connection refused" not in html and "Could not reach" not in html
    assert html.count("failed: could not be delivered") == 2


def test_the_teams_managers_see_the_raw_error_of_its_chat_posts(client, failed_log):
    team, owner, incident = failed_log
    html = panel_for(client, member(team, Role.MANAGER, username="manager"), incident)
    assert html.count("Connection refused") == 1
    assert html.count("failed: could not be delivered") == 1
