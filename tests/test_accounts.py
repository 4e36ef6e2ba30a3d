"""Login lockout, the audit trail, demo data."""

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from accounts.models import LoginFailure, User
from audit.models import AppendOnlyError, AuditEntry
from audit.services import audit_record
from teams.models import Membership, Team
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_it_logs_in_with_the_right_password(client):
    UserFactory(username="alex")
    response = _login(client, "alex", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


def test_a_wrong_password_gets_a_clear_message(client):
    UserFactory(username="alex")
    response = _login(client, "alex", "nope")
    assert response.status_code == 200
    assert "Wrong username or password" in response.content.decode()


def test_it_locks_a_username_after_five_failures_from_one_address(client, time_machine):
    UserFactory(username="alex")
    time_machine.move_to("2026-11-26 10:00:00Z")
    for _ in range(5):
        _login(client, "alex", "nope")
    response = _login(client, "alex", PASSWORD)
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session

    time_machine.move_to("2026-11-26 10:14:00Z")
    assert "Too many failed attempts" in _login(client, "alex", PASSWORD).content.decode()

    time_machine.move_to("2026-11-26 10:16:00Z")
    assert _login(client, "alex", PASSWORD).status_code == 302


def test_the_lock_is_per_address(client):
    UserFactory(username="alex")
    for _ in range(5):
        client.post(reverse("login"), {"username": "alex", "password": "x"}, REMOTE_ADDR="10.9.9.9")
    assert _login(client, "alex", PASSWORD).status_code == 302


def test_success_clears_earlier_failures(client):
    UserFactory(username="alex")
    for _ in range(4):
        _login(client, "alex", "nope")
    assert _login(client, "alex", PASSWORD).status_code == 302
    assert LoginFailure.objects.count() == 0


def test_logout_needs_a_post(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 200
    assert client.get(reverse("dashboard")).status_code == 302


def test_the_audit_log_is_append_only():
    user = UserFactory()
    with transaction.atomic():
        entry = audit_record(actor=user, action="test.thing", obj=user, after={"a": 1})
    entry.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()


def test_the_database_refuses_to_rewrite_audit_rows():
    from django.db import DatabaseError, connection

    user = UserFactory()
    with transaction.atomic():
        entry = audit_record(actor=user, action="test.thing", obj=user)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET action = 'x' WHERE id = %s", [entry.pk])


@pytest.mark.django_db(transaction=True)
def test_an_audit_entry_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError):
        audit_record(actor=None, action="x", obj=UserFactory())


def test_a_profile_change_is_audited_in_the_same_request(client):
    user = UserFactory(time_zone="UTC")
    client.force_login(user)
    response = client.post(
        reverse("profile"),
        {
            "first_name": "Alex",
            "last_name": "R",
            "email": "a@vigil.example",
            "phone": "",
            "time_zone": "Europe/Berlin",
        },
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="profile.update")
    assert entry.actor == user
    assert entry.after["time_zone"] == "Europe/Berlin"
    assert entry.before["time_zone"] == "UTC"


def test_an_unknown_time_zone_is_refused(client):
    user = UserFactory(time_zone="UTC")
    client.force_login(user)
    response = client.post(
        reverse("profile"),
        {"first_name": "", "last_name": "", "email": "", "phone": "", "time_zone": "Mars/Base"},
    )
    assert response.status_code == 200
    assert "not a known time zone" in response.content.decode()
    user.refresh_from_db()
    assert user.time_zone == "UTC"


def test_admins_can_browse_the_audit_log(client):
    admin = UserFactory(is_superuser=True, is_staff=True)
    with transaction.atomic():
        audit_record(actor=admin, action="incident.declare", obj=admin)
    client.force_login(admin)
    response = client.get(reverse("admin:audit_auditentry_changelist"))
    assert response.status_code == 200
    assert "incident.declare" in response.content.decode()


def test_seed_demo_is_idempotent_and_creates_one_person_per_role():
    call_command("seed_demo")
    counts = (User.objects.count(), Team.objects.count(), Membership.objects.count())
    call_command("seed_demo")
    assert (User.objects.count(), Team.objects.count(), Membership.objects.count()) == counts
    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == {"viewer", "responder", "manager", "admin"}
    assert User.objects.get(username="alex").check_password("vigil-demo")


def test_seed_demo_refuses_to_run_in_production(settings):
    from django.core.management.base import CommandError

    settings.PRODUCTION = True
    with pytest.raises(CommandError):
        call_command("seed_demo")
    assert not User.objects.filter(username="alex").exists()


def test_admin_changes_are_audited_without_secrets(client):
    admin = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(admin)
    response = client.post(
        reverse("admin:teams_team_add"),
        {
            "name": "Payments",
            "slug": "payments",
            "time_zone": "UTC",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(action="admin.add", object_type="teams.team")
    assert entry.after["name"] == "Payments"

    target = UserFactory(username="jordan")
    client.post(
        reverse("admin:accounts_user_change", args=[target.pk]),
        {
            "username": "jordan",
            "first_name": "Jordan",
            "last_name": "",
            "email": "",
            "time_zone": "UTC",
            "phone": "",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    entry = AuditEntry.objects.get(action="admin.change", object_type="accounts.user")
    assert "password" not in entry.before and "password" not in entry.after
