"""End to end with the real Debian prometheus-alertmanager and Vigil under uvicorn; plus the
deploy/ files checked by promtool and amtool, and /metrics."""

import datetime as dt
import json
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings

from alerts.models import AlertGroup, GroupStatus
from incidents.models import EventKind
from paging.models import InAppNotification
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)
from tests.celery_worker import ROOT, running_worker, wait_for
from tests.paging_fakes import running_web, wait_port, worker_env

WEB_PORT, AM_PORT = 18620, 18621
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


def _am_config(url, token):
    return {
        "route": {
            "receiver": "vigil",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "vigil",
                "webhook_configs": [
                    {
                        "url": url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                    }
                ],
            }
        ],
    }


def _am_post(alerts):
    request = urllib.request.Request(
        f"http://127.0.0.1:{AM_PORT}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200


@pytest.mark.skipif(not Path(ALERTMANAGER).exists(), reason="prometheus-alertmanager missing")
@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_an_alert_through_alertmanager_opens_an_incident_pages_and_resolves():
    team, people = oncall_team()
    integration, token = integration_for(team)
    url = f"http://127.0.0.1:{WEB_PORT}{integration.webhook_path()}"
    workdir = Path(tempfile.mkdtemp(prefix="vigil-am-"))
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(_am_config(url, token)))
    am_log = open(workdir / "alertmanager.log", "w")  # noqa: SIM115
    alertmanager = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{AM_PORT}",
            "--cluster.listen-address=",
        ],
        stdout=am_log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(AM_PORT)
        with (
            running_web(WEB_PORT, env={"REDIS_URL": django_settings.REDIS_URL}),
            running_worker(beat=True, env=worker_env()),
        ):
            now = dt.datetime.now(dt.UTC)
            alert = {
                "labels": {
                    "alertname": "AgentHighErrorRate",
                    "severity": "critical",
                    "service": "agent-api",
                },
                "annotations": {
                    "summary": "Agent error rate >10%",
                    "description": "Error rate is 45%",
                    "runbook": "https://wiki.company.com/runbooks/high-error-rate",
                },
                "startsAt": now.isoformat(),
            }
            _am_post([alert])
            group = wait_for(
                lambda: AlertGroup.objects.filter(title="AgentHighErrorRate").first(), timeout=30
            )
            assert group, (workdir / "alertmanager.log").read_text()
            assert group.incident is not None
            assert group.incident.events.filter(kind=EventKind.ALERT).exists()
            paged = wait_for(
                lambda: InAppNotification.objects.filter(user=people["primary"]).exists(),
                timeout=30,
            )
            assert paged
            assert group.incident.events.filter(
                kind=EventKind.PAGE, data__users=["platform-primary"]
            ).exists()

            alert["endsAt"] = dt.datetime.now(dt.UTC).isoformat()
            _am_post([alert])
            resolved = wait_for(
                lambda: AlertGroup.objects.filter(
                    pk=group.pk, status=GroupStatus.RESOLVED
                ).exists(),
                timeout=30,
            )
            assert resolved, (workdir / "alertmanager.log").read_text()
            assert group.incident.events.filter(
                kind=EventKind.ALERT, data__status="resolved"
            ).exists()
    finally:
        alertmanager.terminate()
        alertmanager.wait(timeout=10)
        am_log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool missing")
def test_the_deployed_prometheus_rules_are_valid():
    result = subprocess.run(
        ["promtool", "check", "rules", str(ROOT / "deploy" / "prometheus-rules.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 rules found" in result.stdout


def test_the_deployed_rules_carry_the_labels_vigil_routes_on():
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus-rules.yaml").read_text())
    for rule in rules["groups"][0]["rules"]:
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["labels"]["oncall"] in ("page", "slack")
        assert rule["annotations"]["runbook"].startswith("https://")


@pytest.mark.skipif(not shutil.which("amtool"), reason="amtool missing")
def test_the_deployed_alertmanager_config_is_valid_and_routes_to_vigil():
    path = ROOT / "deploy" / "alertmanager.yml"
    result = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    hook = config["receivers"][0]["webhook_configs"][0]
    assert "/alerts/webhook/" in hook["url"] and hook["send_resolved"]
    assert hook["http_config"]["authorization"]["type"] == "Bearer"


@pytest.mark.django_db
def test_metrics_report_alerts_groups_pages_and_latency(client):
    team, _ = oncall_team()
    integration, token = integration_for(team)
    post(client, integration, am_payload(n=3), token=token)
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'vigil_alerts_received_total{kind="alertmanager"}' in text
    assert 'vigil_alert_groups_open{team="platform"} 1.0' in text
    assert "vigil_ingest_latency_seconds_bucket" in text
    assert "vigil_escalation_lateness_seconds_bucket" in text
    assert "vigil_notifications_sent_total" in text and "vigil_notifications_failed_total" in text


@pytest.mark.django_db
def test_metrics_can_require_a_token(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


@pytest.mark.django_db
def test_production_without_a_token_serves_metrics_only_inside_the_network(client, settings):
    settings.PRODUCTION = True
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::1").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="10.0.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics", REMOTE_ADDR="10.0.3.4").status_code == 401
    ok = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret")
    assert ok.status_code == 200
    odd = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cr\u00e9t")
    assert odd.status_code == 401
