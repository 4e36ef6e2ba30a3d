"""A database made before teams/ existed (Team and Membership in oncall, TeamRouting in alerts),
with the demo data in it, migrates to today's schema and loses nothing: every row stays with
its id, the content types (and so permissions and the admin's history) move to teams, and the
defaults reads used to make (routing rows, the default escalation path, checklists) are there.

It runs `manage.py migrate` against a database of its own, as an operator would."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# The last migration of each app before the move.
BEFORE_MOVE = [
    ("oncall", "0003_calendar_token_hash"),
    ("alerts", "0003_alert_group_recent_index"),
    ("incidents", "0009_checklist_ticked_by_vigil"),
    ("paging", "0002_sms_and_phone_channels"),
    ("postmortems", "0002_postmortem_reviewers_notified_for"),
    ("runbooks", "0001_initial"),
    ("checks", "0001_initial"),
]
# Apps the move does not touch, migrated to today.
OTHER_APPS = ["contenttypes", "auth", "admin", "sessions", "accounts", "audit"]
if (ROOT / "common" / "migrations").is_dir():
    OTHER_APPS.append("common")
# Columns added after the move that today's code writes: there while today's seed_demo writes
# the demo data, and dropped again before the migration, so the schema is the old one.
LATER_COLUMNS = [
    ("incidents_incident", "is_drill", "boolean NOT NULL DEFAULT false"),
    ("paging_steprun", "target_kind", "varchar(8) NOT NULL DEFAULT ''"),
]
TABLES = [
    "oncall_team",
    "oncall_membership",
    "alerts_teamrouting",
    "oncall_schedule",
    "oncall_layer",
    "oncall_escalationpolicy",
    "oncall_escalationstep",
    "incidents_incident",
    "incidents_timelineevent",
    "incidents_checklistitem",
    "alerts_integration",
    "runbooks_runbook",
    "postmortems_postmortem",
    "postmortems_actionitem",
    "accounts_user",
    "audit_auditentry",
    "django_admin_log",
    "accounts_user_user_permissions",
]


def _settings(db_name):
    params = connection.settings_dict
    host, port, user = params["HOST"] or "127.0.0.1", params["PORT"] or 5432, params["USER"]
    url = f"postgres://{user}@{host}:{port}/{db_name}"
    return url, {"host": host, "port": port, "user": user, "autocommit": True}


def _manage(url, *args):
    env = os.environ | {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "vigil.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


@pytest.fixture
def old_database():
    name = f"vigil_teams_move_{uuid.uuid4().hex[:8]}"
    url, params = _settings(name)
    with psycopg.connect(dbname="postgres", **params) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url, params | {"dbname": name}
    finally:
        with psycopg.connect(dbname="postgres", **params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _counts(cur):
    return {t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


def test_a_database_from_before_teams_migrates_with_its_demo_data_intact(old_database):
    url, params = old_database
    # The schema as the previous release left it: every app at its last migration before the
    # move, and nothing of teams applied.
    for app, migration in BEFORE_MOVE:
        _manage(url, "migrate", app, migration, "--verbosity=0")
    for app in OTHER_APPS:
        _manage(url, "migrate", app, "--verbosity=0")
    with psycopg.connect(**params) as db, db.cursor() as cur:
        applied = {row[0] for row in cur.execute("SELECT app FROM django_migrations")}
        assert "teams" not in applied
        assert cur.execute(
            "SELECT count(*) FROM django_content_type WHERE app_label = 'oncall' AND model = 'team'"
        ).fetchone() == (1,)
    # The demo data, written by today's code into the old schema: the move changes no table,
    # so the rows are exactly the ones the previous release wrote.
    with psycopg.connect(**params) as db:
        for table, column, kind in LATER_COLUMNS:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    _manage(url, "seed_demo", "--verbosity=0")
    with psycopg.connect(**params) as db:
        for table, column, _kind in LATER_COLUMNS:
            db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    with psycopg.connect(**params) as db, db.cursor() as cur:
        team_ct = cur.execute(
            "SELECT id FROM django_content_type WHERE app_label = 'oncall' AND model = 'team'"
        ).fetchone()[0]
        routing_ct = cur.execute(
            "SELECT id FROM django_content_type"
            " WHERE app_label = 'alerts' AND model = 'teamrouting'"
        ).fetchone()[0]
        user_id = cur.execute("SELECT id FROM accounts_user ORDER BY id LIMIT 1").fetchone()[0]
        team_id = cur.execute("SELECT id FROM oncall_team ORDER BY id LIMIT 1").fetchone()[0]
        # What hangs on the content types: an admin log entry and a person's permission.
        cur.execute(
            "INSERT INTO django_admin_log (action_time, object_id, object_repr, action_flag,"
            " change_message, content_type_id, user_id) VALUES (now(), %s, 'Platform', 2, '',"
            " %s, %s)",
            [str(team_id), team_ct, user_id],
        )
        permission = cur.execute(
            "SELECT id FROM auth_permission WHERE content_type_id = %s AND codename = %s",
            [routing_ct, "change_teamrouting"],
        ).fetchone()[0]
        cur.execute(
            "INSERT INTO accounts_user_user_permissions (user_id, permission_id) VALUES (%s, %s)",
            [user_id, permission],
        )
        # A team the previous release made without routing or an escalation path, and an
        # incident of its without a checklist: the reads used to make them on first use.
        bare_team = cur.execute(
            "INSERT INTO oncall_team (name, slug, time_zone) VALUES ('Data', 'data', 'UTC')"
            " RETURNING id"
        ).fetchone()[0]
        cur.execute("DELETE FROM oncall_escalationpolicy WHERE team_id = %s", [bare_team])
        cur.execute("DELETE FROM alerts_teamrouting WHERE team_id = %s", [bare_team])
        incident = cur.execute("SELECT id FROM incidents_incident LIMIT 1").fetchone()[0]
        cur.execute("DELETE FROM incidents_checklistitem WHERE incident_id = %s", [incident])
        before = _counts(cur)
        platform_members = cur.execute(
            "SELECT count(*) FROM oncall_membership m JOIN oncall_team t ON t.id = m.team_id"
            " WHERE t.slug = 'platform'"
        ).fetchone()[0]
        rows = {
            "team": cur.execute("SELECT * FROM oncall_team ORDER BY id").fetchall(),
            "membership": cur.execute("SELECT * FROM oncall_membership ORDER BY id").fetchall(),
            "routing": cur.execute("SELECT * FROM alerts_teamrouting ORDER BY id").fetchall(),
            "incident_team": cur.execute(
                "SELECT id, team_id FROM incidents_incident ORDER BY id"
            ).fetchall(),
        }
    assert before["oncall_membership"] > 0 and before["incidents_incident"] > 0

    _manage(url, "migrate", "--verbosity=0")

    with psycopg.connect(**params) as db, db.cursor() as cur:
        after = _counts(cur)
        # Nothing lost; only the defaults the old reads made on first use are new.
        assert after["oncall_team"] == before["oncall_team"]
        assert after["alerts_teamrouting"] == before["alerts_teamrouting"] + 1
        assert after["oncall_escalationpolicy"] == before["oncall_escalationpolicy"] + 1
        assert after["incidents_checklistitem"] > before["incidents_checklistitem"]
        for table in set(TABLES) - {
            "alerts_teamrouting",
            "oncall_escalationpolicy",
            "oncall_escalationstep",
            "incidents_checklistitem",
        }:
            assert after[table] == before[table], table
        assert cur.execute("SELECT * FROM oncall_team ORDER BY id").fetchall() == rows["team"]
        assert (
            cur.execute("SELECT * FROM oncall_membership ORDER BY id").fetchall()
            == rows["membership"]
        )
        assert (
            cur.execute(
                "SELECT * FROM alerts_teamrouting WHERE team_id <> %s ORDER BY id", [bare_team]
            ).fetchall()
            == rows["routing"]
        )
        assert (
            cur.execute("SELECT id, team_id FROM incidents_incident ORDER BY id").fetchall()
            == rows["incident_team"]
        )
        # The same content type rows, now the teams app's: the log entry and the permission
        # still point at them.
        assert cur.execute(
            "SELECT app_label, model FROM django_content_type WHERE id IN (%s, %s) ORDER BY id",
            [team_ct, routing_ct],
        ).fetchall() == sorted(
            [("teams", "team"), ("teams", "teamrouting")],
            key=lambda r: {"team": team_ct, "teamrouting": routing_ct}[r[1]],
        )
        assert cur.execute(
            "SELECT count(*) FROM django_content_type WHERE app_label IN ('oncall', 'alerts')"
            " AND model IN ('team', 'membership', 'teamrouting')"
        ).fetchone() == (0,)
        steps = cur.execute(
            "SELECT s.position, s.target_kind, s.wait_minutes FROM oncall_escalationstep s"
            " JOIN oncall_escalationpolicy p ON p.id = s.policy_id WHERE p.team_id = %s"
            " ORDER BY s.position",
            [bare_team],
        ).fetchall()
        assert steps == [(0, "layer", 5), (1, "layer", 10), (2, "lead", 15)]
    # Today's code reads the migrated rows: the demo seeds again without adding anything.
    _manage(url, "seed_demo", "--verbosity=0")
    check = _manage(
        url,
        "shell",
        "-c",
        "from teams.models import Team; t = Team.objects.get(slug='platform');"
        "print(t.routing.pk, t.memberships.count(), t.incidents.count())",
    )
    routing_id, members, _incidents = (int(v) for v in check.splitlines()[-1].split())
    assert members == platform_members > 0
    assert routing_id in {r[0] for r in rows["routing"]}
