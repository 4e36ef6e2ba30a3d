"""The status page's admin side: planned maintenance silences its components' alerts for the
window, through the team's ordinary silences (a cancelled window's at once ends them), and
the admin does it on save; webhook subscribers added in the admin go to public https
addresses only; a component stays in its own page's groups."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from alerts.models import AlertGroup, Decision, Silence
from incidents.models import Incident
from status.maintenance import maintenance_silences_sync
from status.models import Component, Maintenance, StatusPage
from teams.models import Role
from tests.alerts_fixtures import am_payload, fast_passwords, integration_for, post  # noqa: F401
from tests.factories import TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def status_page():
    team = TeamFactory(slug="platform")
    status_page = StatusPage.objects.create(slug="acme", title="Acme", team=team)
    Component.objects.create(page=status_page, name="Checkout API", alert_service="checkout-api")
    Component.objects.create(page=status_page, name="Docs")  # no alerts of its own
    status_page.manager = member(team, Role.MANAGER, username="morgan")
    return status_page


def window(status_page, *, starts_in=timedelta(0), hours=1):
    start = timezone.now() + starts_in
    maintenance = Maintenance.objects.create(
        page=status_page, name="DB upgrade", starts_at=start, ends_at=start + timedelta(hours=hours)
    )
    maintenance.components.add(*status_page.components.all())
    return maintenance


def test_an_alert_of_a_component_under_maintenance_is_silenced_and_pages_nobody(
    status_page, client
):
    maintenance = window(status_page, starts_in=-timedelta(minutes=5))
    (silence,) = maintenance_silences_sync(maintenance=maintenance, by=status_page.manager)
    assert silence.team == status_page.team
    assert silence.matchers == [{"name": "service", "op": "=", "value": "checkout-api"}]
    assert (silence.starts_at, silence.ends_at) == (maintenance.starts_at, maintenance.ends_at)
    assert "Planned maintenance on Acme: DB upgrade" in silence.reason
    integration, token = integration_for(status_page.team)
    post(client, integration, am_payload(extra={"service": "checkout-api"}), token=token)
    group = AlertGroup.objects.get()
    assert group.silenced and group.decision == Decision.SILENCED
    assert not Incident.objects.exists()
    # Another service's alert still pages.
    post(client, integration, am_payload(name="Other", extra={"service": "search"}), token=token)
    assert AlertGroup.objects.get(title__contains="Other").decision != Decision.SILENCED


def test_syncing_again_changes_nothing_and_a_moved_or_cancelled_window_follows(status_page):
    maintenance = window(status_page, starts_in=timedelta(days=2))
    first = maintenance_silences_sync(maintenance=maintenance, by=status_page.manager)
    again = maintenance_silences_sync(maintenance=maintenance, by=status_page.manager)
    assert [s.pk for s in again] == [s.pk for s in first]
    assert Silence.objects.count() == 1

    maintenance.ends_at += timedelta(hours=1)
    maintenance.save()
    (moved,) = maintenance_silences_sync(maintenance=maintenance, by=status_page.manager)
    assert moved.ends_at == maintenance.ends_at
    old = Silence.objects.get(pk=first[0].pk)
    assert not old.is_active(maintenance.starts_at + timedelta(minutes=1))

    maintenance.cancelled_at = timezone.now()
    maintenance.save()
    assert maintenance_silences_sync(maintenance=maintenance, by=status_page.manager) == []
    at = maintenance.starts_at + timedelta(minutes=1)
    assert not any(s.is_active(at) for s in Silence.objects.all())
    assert maintenance.silences.count() == 0


def test_the_admin_silences_the_windows_alerts_when_it_saves_the_window(status_page):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    start = timezone.now() + timedelta(days=1)
    api = Component.objects.get(name="Checkout API")
    response = client.post(
        "/admin/status/maintenance/add/",
        {
            "page": status_page.pk,
            "name": "Kernel patching",
            "body": "",
            "components": [api.pk],
            "starts_at_0": start.strftime("%Y-%m-%d"),
            "starts_at_1": start.strftime("%H:%M:%S"),
            "ends_at_0": (start + timedelta(hours=2)).strftime("%Y-%m-%d"),
            "ends_at_1": (start + timedelta(hours=2)).strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, re.findall(
        r"errorlist[^>]*>(.*?)</ul>", response.content.decode(), re.S
    )
    maintenance = Maintenance.objects.get(name="Kernel patching")
    (silence,) = maintenance.silences.all()
    assert silence.matchers[0]["value"] == "checkout-api"


def admin_client():
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_admin_adds_a_webhook_subscriber_only_to_a_public_https_address(status_page, settings):
    from status.models import Subscriber

    client = admin_client()
    api = Component.objects.get(name="Checkout API")
    settings.OUTBOUND_ALLOWED_HOSTS = []
    refused = client.post(
        "/admin/status/subscriber/add/",
        {"page": status_page.pk, "address": "https://127.0.0.1/hook", "components": [api.pk]},
    )
    assert refused.status_code == 200 and not Subscriber.objects.exists()
    assert "errorlist" in refused.content.decode()
    other = StatusPage.objects.create(slug="tools", title="Tools", team=status_page.team)
    wiki = Component.objects.create(page=other, name="Wiki")
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    stray = client.post(
        "/admin/status/subscriber/add/",
        {"page": status_page.pk, "address": "https://127.0.0.1/hook", "components": [wiki.pk]},
    )
    assert "Not components of Acme: Wiki." in stray.content.decode()
    made = client.post(
        "/admin/status/subscriber/add/",
        {"page": status_page.pk, "address": "https://127.0.0.1/hook", "components": [api.pk]},
    )
    assert made.status_code == 302
    subscriber = Subscriber.objects.get()
    assert subscriber.kind == "webhook" and subscriber.is_active


def test_a_component_cannot_join_a_group_of_another_page(status_page):
    from django.core.exceptions import ValidationError

    from status.models import ComponentGroup

    other = StatusPage.objects.create(slug="tools", title="Tools", team=status_page.team)
    theirs = ComponentGroup.objects.create(page=other, name="Internal")
    component = Component(page=status_page, group=theirs, name="Checkout API 2")
    with pytest.raises(ValidationError, match="another status page"):
        component.full_clean()
