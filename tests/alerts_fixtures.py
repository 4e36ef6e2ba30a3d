"""Shared set-up for the alerts and paging tests: a team with a primary, a secondary and a
lead, each always on call in their layer, and an integration with a known token."""

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from alerts.models import IntegrationKind
from alerts.services import integration_create
from oncall.models import ContactMethod, Layer, LayerMember, Schedule
from teams.models import Role
from tests.factories import TeamFactory, member

DATA = Path("/work/shared/data")


def firing_payload():
    return json.loads((DATA / "alertmanager-webhook-v4-firing.json").read_text())


def resolved_payload():
    return json.loads((DATA / "alertmanager-webhook-v4-resolved.json").read_text())


def am_payload(
    *, name="AgentHighErrorRate", status="firing", severity="critical", extra=None, n=1, key=None
):
    labels = {"alertname": name, "severity": severity, **(extra or {})}
    alerts = []
    for i in range(n):
        alert_labels = {**labels, "instance": f"i{i}"} if n > 1 else dict(labels)
        alerts.append(
            {
                "status": status,
                "labels": alert_labels,
                "annotations": {
                    "summary": f"{name} summary",
                    "description": f"{name} is happening",
                    "runbook": "https://wiki.example/runbooks/high-error-rate",
                    "dashboard": "https://grafana.example/agent-health",
                },
                "startsAt": "2026-11-26T15:16:23.124Z",
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-26T15:20:00Z",
                "generatorURL": "http://prometheus.example/graph",
                "fingerprint": f"{name.lower()}-{i}",
            }
        )
    return {
        "receiver": "vigil",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "version": "4",
        "groupKey": key or f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
    }


def oncall_team(*, slug="platform", time_zone="UTC", contacts=True):
    team = TeamFactory(slug=slug, name=slug.title(), time_zone=time_zone)
    primary = member(team, username=f"{slug}-primary")
    secondary = member(team, username=f"{slug}-secondary")
    lead = member(team, Role.MANAGER, username=f"{slug}-lead")
    team.engineering_lead = lead
    team.save(update_fields=["engineering_lead"])
    schedule = Schedule.objects.create(team=team, name="Main", time_zone=time_zone)
    for position, (name, user) in enumerate([("Primary", primary), ("Secondary", secondary)]):
        layer = Layer.objects.create(
            schedule=schedule,
            name=name,
            position=position,
            cadence="daily",
            start_date=dt.date(2020, 1, 1),
        )
        LayerMember.objects.create(layer=layer, user=user, position=0)
    if contacts:
        for user in (primary, secondary, lead):
            ContactMethod.objects.create(user=user, kind="email", value=user.email)
    return team, {"primary": primary, "secondary": secondary, "lead": lead}


def integration_for(team, kind=IntegrationKind.ALERTMANAGER, name="Prometheus"):
    integration, token = integration_create(team=team, kind=kind, name=name)
    return integration, token


def post(client, integration, payload, *, token=None, path_token=None, raw=None, headers=None):
    url = integration.webhook_path(path_token) if path_token else integration.webhook_path()
    body = raw if raw is not None else json.dumps(payload)
    extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    extra.update(headers or {})
    return client.post(url, data=body, content_type="application/json", **extra)


def clone(payload):
    return copy.deepcopy(payload)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Factories hash a password per person; the default hasher makes set-up slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
