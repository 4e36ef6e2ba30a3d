"""`make run`'s embedded default is SQLite, which has none of PostgreSQL's aggregates: the
reports there are computed from the rows. A fresh SQLite database, migrated and given the
demo data, answers every report page to the demo's manager with figures in them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

PAGES = """
import django, json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "vigil.settings"
django.setup()
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from accounts.models import User
from reports.health import health_period, team_health
from reports.response import period_parse, response_report
from teams.models import Team

settings.ALLOWED_HOSTS = ["testserver"]
team = Team.objects.get(slug="platform")
client = Client(raise_request_exception=False)
client.force_login(User.objects.get(username="sam"))
codes = {}
for name in ("reports_response", "oncall_health", "drill_log"):
    codes[name] = client.get(reverse(name, args=[team.slug])).status_code
csv = client.get(reverse("reports_response", args=[team.slug]) + "?format=csv&chart=severity")
codes["csv"] = csv.status_code
# The demo's incident is the 3 AM night of 15 January 2024.
january = period_parse(team=team, start="2024-01-01", end="2024-01-31")
report = response_report(team=team, period=january)
health = team_health(team=team, period=health_period(team=team))
print(json.dumps({
    "vendor": connection.vendor,
    "codes": codes,
    "incidents": report.incidents,
    "acknowledged": report.acknowledge.measured,
    "csv_rows": len(csv.content.decode().splitlines()),
    "members": len(health.people),
}))
"""


def _run(args, env):
    result = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def test_the_reports_answer_on_the_embedded_sqlite_default_with_the_demo_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"VIGIL_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "vigil.settings"}
    _run([sys.executable, "manage.py", "migrate", "--noinput", "--verbosity=0"], env)
    _run([sys.executable, "manage.py", "seed_demo", "--verbosity=0"], env)

    import json

    out = json.loads(_run([sys.executable, "-c", PAGES], env).strip().splitlines()[-1])

    assert out["vendor"] == "sqlite"
    assert out["codes"] == {
        "reports_response": 200,
        "oncall_health": 200,
        "drill_log": 200,
        "csv": 200,
    }
    assert out["incidents"] == 1
    assert out["acknowledged"] == 1
    assert out["csv_rows"] == 1 + 4  # the header and SEV1–SEV4
    assert out["members"] > 0
