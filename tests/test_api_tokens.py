"""Personal API tokens on the profile page: create once, use, revoke, never kept in clear."""

import hashlib
import json
import logging
import re

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from accounts.tokens import api_token_create
from audit.models import AuditEntry
from common.logs import configure_logging
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r'<code id="new-token-value"[^>]*>(vgl_[A-Za-z0-9_-]+)</code>')


def _create(client, name="deploy pipeline"):
    response = client.post(reverse("api_token_create"), {"name": name})
    assert response.status_code == 200, response.content
    match = TOKEN_RE.search(response.content.decode())
    assert match, "the new token is shown in a code element"
    return response, match.group(1)


def _api(client, raw):
    return client.get("/api/v1/incidents/", HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def alex(client):
    user = UserFactory(username="alex")
    client.force_login(user)
    return user


def test_a_token_created_on_the_profile_page_authenticates(client, alex):
    response, raw = _create(client)
    assert "shown only once" in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")
    token = ApiToken.objects.get(user=alex)
    assert token.name == "deploy pipeline"
    assert raw.startswith(token.prefix)

    api = Client()
    assert _api(api, raw).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_raw_token_is_shown_exactly_once(client, alex):
    _, raw = _create(client)
    page = client.get(reverse("profile")).content.decode()
    assert raw not in page
    token = ApiToken.objects.get(user=alex)
    assert f"{token.prefix}…" in page
    assert "deploy pipeline" in page
    assert "Never" in page  # not used yet


def test_the_profile_lists_tokens_with_their_state(client, alex):
    used, raw_used = api_token_create(user=alex, name="grafana")
    revoked, _ = api_token_create(user=alex, name="old laptop")
    client.post(reverse("api_token_revoke", args=[revoked.pk]))
    _api(Client(), raw_used)
    page = client.get(reverse("profile")).content.decode()
    assert "grafana" in page and "old laptop" in page
    assert page.count('class="badge ok">Active') == 1
    assert page.count('class="badge bad">Revoked') == 1
    assert page.count("Revoke token grafana") == 1
    assert "Revoke token old laptop" not in page
    assert page.count("Never") == 1  # grafana was used, the revoked one never was


def test_a_revoked_token_gets_401(client, alex):
    _, raw = _create(client)
    token = ApiToken.objects.get(user=alex)
    response = client.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert _api(Client(), raw).status_code == 401
    assert AuditEntry.objects.filter(action="api_token.revoke", object_id=str(token.pk)).exists()


def test_another_users_token_cannot_be_revoked(client, alex):
    jordan = UserFactory(username="jordan")
    token, raw = api_token_create(user=jordan, name="jordan's script")
    response = client.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert _api(Client(), raw).status_code == 200
    assert not AuditEntry.objects.filter(action="api_token.revoke").exists()
    assert "jordan&#x27;s script" not in client.get(reverse("profile")).content.decode()


def test_revoking_needs_a_post_with_csrf(alex):
    token, _ = api_token_create(user=alex, name="ci")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alex)
    url = reverse("api_token_revoke", args=[token.pk])
    assert strict.get(url).status_code == 405
    assert strict.post(url).status_code == 403
    assert strict.post(reverse("api_token_create"), {"name": "x"}).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    assert ApiToken.objects.count() == 1


def test_a_token_needs_a_name(client, alex):
    response = client.post(reverse("api_token_create"), {"name": "   "})
    assert response.status_code == 400
    assert "field-error" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_signed_out_people_cannot_create_tokens(client):
    client.logout()
    response = client.post(reverse("api_token_create"), {"name": "x"})
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
    assert not ApiToken.objects.exists()


def test_the_raw_token_is_never_stored_only_its_hash(client, alex):
    _, raw = _create(client)
    token = ApiToken.objects.get(user=alex)
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = json.dumps(
        list(ApiToken.objects.values()) + list(AuditEntry.objects.values()), default=str
    )
    assert raw not in stored
    assert raw[10:] not in stored  # not even the part after the shown prefix
    sessions = json.dumps([s.get_decoded() for s in Session.objects.all()], default=str)
    assert raw not in sessions
    assert AuditEntry.objects.filter(action="api_token.create").count() == 1


def test_the_raw_token_is_never_logged(client, alex, capsys, caplog):
    configure_logging(fmt="json", level="DEBUG")
    caplog.set_level(logging.DEBUG)
    try:
        _, raw = _create(client)
        _api(Client(), raw)
        _api(Client(), raw + "x")
        token = ApiToken.objects.get(user=alex)
        client.post(reverse("api_token_revoke", args=[token.pk]))
        _api(Client(), raw)
        err = capsys.readouterr().err
    finally:
        # Outside the capture: a handler left on capsys's stream writes to a closed file
        # in every later test.
        with capsys.disabled():
            configure_logging(fmt=django_settings.LOG_FORMAT, level=django_settings.LOG_LEVEL)
    assert "api_token_created" in err  # the log was captured
    assert raw not in err
    assert raw not in caplog.text
    assert raw[10:] not in err + caplog.text


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_person_creates_copies_and_revokes_a_token_in_the_browser(browser, live_server):
    from playwright.sync_api import expect

    UserFactory(username="riley")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("riley")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/profile/")

    page.get_by_label("Token name").fill("grafana annotations")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_label("New API token")
    expect(shown).to_be_visible()
    raw = shown.inner_text().strip()
    assert raw.startswith("vgl_")
    expect(page.get_by_role("button", name="Copy token")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    assert _api(Client(), raw).status_code == 200
    page.goto(f"{live_server.url}/profile/")
    expect(page.get_by_label("New API token")).to_have_count(0)
    assert raw not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_role("button", name="Revoke token grafana annotations").click()
    expect(page.get_by_text("revoked. Programs using it get 401 now.")).to_be_visible()
    expect(page.get_by_role("button", name="Revoke token grafana annotations")).to_have_count(0)
    assert _api(Client(), raw).status_code == 401
    context.close()


def test_a_deactivated_persons_token_gets_401(client, alex):
    _, raw = _create(client)
    alex.is_active = False
    alex.save(update_fields=["is_active"])
    assert _api(Client(), raw).status_code == 401
