"""The foundation: settings in both modes, health, security headers, request ids, deploy."""

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings as django_settings
from django.utils import timezone

from checks.models import Heartbeat
from common.logs import configure_logging

ROOT = Path(__file__).resolve().parent.parent


def _run_python(code, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


LOAD = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='vigil.settings'; django.setup();"
    "from django.conf import settings as s;"
    "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL.split(':')[0], s.LOG_FORMAT,"
    " s.DEBUG)"
)


def test_the_embedded_default_uses_sqlite_and_the_filesystem_broker(tmp_path):
    result = _run_python(LOAD, VIGIL_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem", "console", "False"]


SITE = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='vigil.settings'; django.setup();"
    "from django.conf import settings as s; print(s.SITE_URL)"
)


def test_links_vigil_sends_out_follow_vigil_port_unless_site_url_is_set(tmp_path):
    env = {"VIGIL_VAR_DIR": str(tmp_path), "SITE_URL": ""}
    assert _run_python(SITE, **env).stdout.split() == ["http://127.0.0.1:8000"]
    assert _run_python(SITE, **env, VIGIL_PORT="8123").stdout.split() == ["http://127.0.0.1:8123"]
    public = _run_python(SITE, **env | {"SITE_URL": "https://vigil.example/", "VIGIL_PORT": "81"})
    assert public.stdout.split() == ["https://vigil.example"]


def test_the_embedded_broker_keeps_every_folder_under_var(tmp_path):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='vigil.settings'; django.setup();"
        "from celery import current_app as app;"
        "c = app.connection_for_write(); c.ensure_connection(); ch = c.default_channel;"
        "print(ch.control_folder)"
    )
    result = _run_python(code, VIGIL_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(tmp_path)
    tracked = subprocess.run(
        ["git", "ls-files", "control"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert tracked.stdout == ""


def test_production_uses_postgresql_redis_and_json_logs():
    result = _run_python(
        LOAD,
        VIGIL_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        PAGING_WEBHOOK_SECRET=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="vigil.example",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/vigil",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "redis", "json", "False"]


def test_production_refuses_to_start_without_a_secret_key():
    result = _run_python(LOAD, VIGIL_ENV="production", ALLOWED_HOSTS="vigil.example")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_sign_webhooks_with_the_secret_key():
    key = secrets.token_urlsafe(50)
    base = {"VIGIL_ENV": "production", "SECRET_KEY": key, "ALLOWED_HOSTS": "vigil.example"}
    missing = _run_python(LOAD, **base)
    assert missing.returncode != 0 and "PAGING_WEBHOOK_SECRET must be set" in missing.stderr
    same = _run_python(LOAD, **base, PAGING_WEBHOOK_SECRET=key)
    assert same.returncode != 0 and "differ from SECRET_KEY" in same.stderr


def test_check_deploy_reports_nothing_with_production_settings():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        VIGIL_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        PAGING_WEBHOOK_SECRET=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="vigil.example",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/vigil",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.django_db
def test_health_answers_200_when_everything_is_up(client):
    Heartbeat.objects.create(name="beat", at=timezone.now())
    response = client.get("/health")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "beat"}
    assert body["checks"]["broker"]["detail"] == "redis"
    assert body["checks"]["beat"]["age_seconds"] < 5


@pytest.mark.django_db
def test_health_answers_503_when_the_broker_is_unreachable(client, settings):
    Heartbeat.objects.create(name="beat", at=timezone.now())
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_health_answers_503_when_beat_has_stopped_ticking(client):
    Heartbeat.objects.create(name="beat", at=timezone.now() - timezone.timedelta(minutes=10))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"]["detail"].startswith("last tick")


@pytest.mark.django_db
def test_every_response_has_a_request_id_and_the_security_headers(client):
    response = client.get("/login/")
    assert len(response["X-Request-ID"]) == 32
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_a_well_formed_incoming_request_id_is_kept(client):
    response = client.get("/login/", HTTP_X_REQUEST_ID="lb-1234abcd")
    assert response["X-Request-ID"] == "lb-1234abcd"
    response = client.get("/login/", HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>"


@pytest.mark.django_db
def test_json_logs_carry_the_request_id(client, capsys):
    configure_logging(fmt="json", level="INFO")
    try:
        client.post(
            "/login/", {"username": "nobody", "password": "wrong"}, HTTP_X_REQUEST_ID="req-abcdef12"
        )
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    finally:
        # Outside the capture: a handler left on capsys's stream writes to a closed file
        # in every later test.
        with capsys.disabled():
            configure_logging(fmt=django_settings.LOG_FORMAT, level=django_settings.LOG_LEVEL)
    failed = [line for line in lines if line.get("event") == "login_failed"]
    assert failed and failed[0]["request_id"] == "req-abcdef12"
    assert failed[0]["level"] == "info"
    assert "password" not in json.dumps(lines)


def test_htmx_is_served_from_our_static_files_with_eval_off(client, db):
    html = client.get("/login/").content.decode()
    assert "/static/vendor/htmx-2.0.11.min.js" in html
    assert "https://" not in html.split("<body")[0]
    assert "&quot;allowEval&quot;: false" in html


def test_docker_compose_file_is_valid():
    env = {**os.environ, "SECRET_KEY": "x" * 50, "PAGING_WEBHOOK_SECRET": "y" * 32}
    has_compose = (
        shutil.which("docker")
        and subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=30
        ).returncode
        == 0
    )
    if has_compose:
        result = subprocess.run(
            ["docker", "compose", "config", "-q"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    # The Compose Specification's own JSON schema, checked whether or not the plugin is here.
    schema = json.loads((ROOT / "tests/data/compose-spec.json").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    jsonschema.Draft201909Validator(schema).validate(compose)
    services = compose["services"]
    assert {"db", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    for name in ("web", "worker", "beat", "migrate"):
        assert services[name]["image"] == "vigil:latest"  # one app definition, shared
    assert "healthcheck" in services["db"] and "healthcheck" in services["redis"]
    assert "/health" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["web"]["environment"]["DATABASE_POOL"] == "true"
    assert services["web"]["environment"]["VIGIL_ENV"] == "production"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
