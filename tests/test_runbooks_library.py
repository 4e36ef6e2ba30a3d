"""The runbook library and runbooks as code: load, import, export, round trips, bad files."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts import demo as accounts_demo
from oncall import demo as oncall_demo
from runbooks import demo as runbooks_demo
from runbooks.models import Runbook, RunbookRevision
from runbooks.rendering import render_runbook, runbook_steps
from runbooks.services import (
    LIBRARY_DIR,
    RunbookError,
    runbook_export_dir,
    runbook_import_dir,
    runbook_update,
)
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

LIBRARY = {
    "on-call-playbook": "On-Call Playbook",
    "high-error-rate": "High Error Rate",
    "debugging-runaway-agent": "Debugging Runaway Agent",
    "high-latency": "High Latency",
    "queue-depth-growing": "Queue Depth Growing",
    "database-issues": "Database Issues",
    "redis-down": "Redis Down",
    "api-rate-limits": "API Rate Limits",
    "memory-leak": "Memory Leak",
    "deployment-rollback": "Deployment Rollback",
    "certificate-expiry": "Certificate Expiry",
    "disk-space-full": "Disk Space Full",
}
SEED = Path("/work/shared/seed/incident-response-chapter.md")


@pytest.fixture
def demo():
    users = accounts_demo.seed()
    team = oncall_demo.seed(users=users)
    runbooks_demo.seed(team=team, users=users)
    return team, users


def snapshot():
    return sorted(
        Runbook.objects.values_list("slug", "title", "body", "tags", "alert_names", "team_id")
    )


def test_the_library_holds_every_runbook_the_seed_lists(demo):
    assert dict(Runbook.objects.values_list("slug", "title")) == LIBRARY
    assert all(r.owner.username == "sam" for r in Runbook.objects.select_related("owner"))
    stale = {r.slug for r in Runbook.objects.all() if r.is_stale}
    assert stale == set(runbooks_demo.NEGLECTED)


def test_loading_the_library_again_changes_nothing(demo):
    team, users = demo
    before, revisions = snapshot(), RunbookRevision.objects.count()
    runbooks_demo.seed(team=team, users=users)
    call_command("load_runbooks")
    assert snapshot() == before
    assert RunbookRevision.objects.count() == revisions == len(LIBRARY)


def test_loading_the_library_keeps_a_runbook_someone_edited(demo):
    team, users = demo
    runbook = Runbook.objects.get(slug="redis-down")
    runbook_update(
        runbook=runbook,
        title=runbook.title,
        body=runbook.body + "\nOur Redis runs on host r1.\n",
        tags=runbook.tags,
        alert_names=runbook.alert_names,
        by=users["alex"],
    )
    call_command("load_runbooks")
    assert "host r1" in Runbook.objects.get(slug="redis-down").body


def test_the_seed_runbooks_are_there_in_full_with_proper_fences(demo):
    high = Runbook.objects.get(slug="high-error-rate").body
    assert "\\`\\`\\`" not in high
    for line in [
        "- Error rate >5%",
        'kubectl get configmap agent-config -o yaml | grep -A 20 "data:"',
        "# - ConnectionError: Redis/database down",
        "psycopg2.connect('postgresql://...').cursor().execute('SELECT 1')",
        "kubectl scale deployment/agent-worker --replicas=20",
        "kubectl set env deployment/agent-api CIRCUIT_BREAKER_SEARCH=open",
        "3. Escalate to engineering manager",
        "- Document in incident log",
    ]:
        assert line in high
    seed = SEED.read_text()
    runaway = Runbook.objects.get(slug="debugging-runaway-agent").body
    assert runaway.count("```") == 10
    for line in [
        "python scripts/kill_stale_jobs.py --age 300",
        "kubectl set env deployment/agent-worker MAX_TURNS=5",
        "watch -n 5 'redis-cli LLEN queue:priority:1'",
    ]:
        assert line in runaway and line in seed
    playbook = Runbook.objects.get(slug="on-call-playbook").body
    for line in [
        "1. **Acknowledge alert** (within 5 minutes)",
        "7. **Document**",
        "- [ ] VPN configured",
    ]:
        assert line in playbook
    rollback = Runbook.objects.get(slug="deployment-rollback").body
    for line in [
        "- Rollback would cause data loss",
        "kubectl rollout undo deployment/agent-api --to-revision=3",
        "kubectl get endpoints agent-service",
        "curl -X POST http://localhost:8000/flags/new_feature/disable",
        "python manage.py migrate app_name 0004_previous_migration",
        "   - Screenshot dashboards",
    ]:
        assert line in rollback


def test_every_library_runbook_renders_with_code_blocks_and_has_steps(demo):
    for runbook in Runbook.objects.all():
        toc, html = render_runbook(runbook.body)
        assert toc, runbook.slug
        if runbook.slug != "on-call-playbook":  # the playbook is prose and checklists
            assert "<pre><code" in html, runbook.slug
        assert runbook_steps(runbook.body), runbook.slug


def test_alert_names_follow_the_seeds_prometheus_rules(demo):
    seed = SEED.read_text()
    for slug, alert in [
        ("high-error-rate", "AgentHighErrorRate"),
        ("high-latency", "AgentHighLatency"),
        ("queue-depth-growing", "AgentQueueDepthHigh"),
        ("on-call-playbook", "AgentCompleteOutage"),
        ("redis-down", "AgentLowCacheHitRate"),
    ]:
        assert f"- alert: {alert}" in seed
        assert alert in Runbook.objects.get(slug=slug).alert_names


def test_the_library_files_are_exactly_what_export_writes(demo, tmp_path):
    Runbook.objects.update(owner=None)
    runbook_export_dir(directory=tmp_path)
    for path in sorted(LIBRARY_DIR.glob("*.md")):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_export_import_round_trip_of_the_whole_library_is_byte_stable(demo, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    call_command("export_runbooks", str(first))
    assert sorted(p.stem for p in first.glob("*.md")) == sorted(LIBRARY)
    revisions = RunbookRevision.objects.count()
    call_command("import_runbooks", str(first))
    assert RunbookRevision.objects.count() == revisions
    call_command("export_runbooks", str(second))
    for path in first.glob("*.md"):
        assert (second / path.name).read_bytes() == path.read_bytes(), path.name

    # Into an empty Vigil: the same runbooks come back, and export the same bytes again.
    before = snapshot()
    Runbook.objects.all().delete()
    result = runbook_import_dir(directory=first)
    assert len(result.created) == len(LIBRARY)
    assert snapshot() == before
    third = tmp_path / "third"
    runbook_export_dir(directory=third)
    for path in first.glob("*.md"):
        assert (third / path.name).read_bytes() == path.read_bytes(), path.name


def test_importing_the_same_folder_twice_changes_nothing(demo, tmp_path):
    (tmp_path / "payments-down.md").write_text(
        "---\ntitle: Payments Down\nteam: platform\ntags: [payments]\nalerts: [PaymentsDown]\n"
        "---\n\n## When to Use\n- Alert: PaymentsDown\n"
    )
    first = runbook_import_dir(directory=tmp_path)
    assert first.created == ["payments-down"]
    runbook = Runbook.objects.get(slug="payments-down")
    assert runbook.alert_names == ["PaymentsDown"] and runbook.tags == ["payments"]
    second = runbook_import_dir(directory=tmp_path)
    assert second.unchanged == ["payments-down"] and not second.updated
    assert runbook.revisions.count() == 1


def test_an_edited_file_makes_one_new_revision(demo, tmp_path):
    runbook_export_dir(directory=tmp_path, queryset=Runbook.objects.filter(slug="redis-down"))
    path = tmp_path / "redis-down.md"
    path.write_text(path.read_text() + "\nRedis lives on r1.\n")
    result = runbook_import_dir(directory=tmp_path)
    assert result.updated == ["redis-down"]
    latest = Runbook.objects.get(slug="redis-down").revisions.order_by("-number").first()
    assert latest.number == 2 and latest.message == "Imported from redis-down.md"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no front matter\n", "must start with a front matter block"),
        ("---\ntitle: X\nteam: platform\n", "not closed"),
        ("---\ntitle: [unclosed\nteam: platform\n---\nbody\n", "not valid YAML"),
        ("---\n- a list\n---\nbody\n", "must be a mapping"),
        ("---\nteam: platform\n---\nbody\n", "needs a title"),
        ("---\ntitle: X\n---\nbody\n", "needs a team"),
        ("---\ntitle: X\nteam: nowhere\n---\nbody\n", "there is no team 'nowhere'"),
        ("---\ntitle: X\nteam: platform\ntags: errors\n---\nbody\n", "tags must be a list"),
        ("---\ntitle: X\nteam: platform\ncolour: red\n---\nbody\n", "unknown front matter"),
        ("---\ntitle: X\nteam: platform\nslug: Not A Slug\n---\nbody\n", "A slug is lowercase"),
        ("---\ntitle: X\nteam: platform\n---\n\n", "needs some content"),
        ("---\ntitle: X\nteam: platform\nowner: ghost\n---\nbody\n", "no user 'ghost'"),
    ],
)
def test_a_bad_file_is_named_and_nothing_is_saved(demo, tmp_path, text, reason):
    (tmp_path / "a-good-one.md").write_text("---\ntitle: Good\nteam: platform\n---\n\nbody\n")
    (tmp_path / "broken.md").write_text(text)
    before = Runbook.objects.count()
    with pytest.raises(RunbookError) as error:
        runbook_import_dir(directory=tmp_path)
    assert str(error.value).startswith("broken.md: ")
    assert reason in str(error.value)
    assert Runbook.objects.count() == before
    with pytest.raises(CommandError, match="broken.md"):
        call_command("import_runbooks", str(tmp_path))


def test_two_files_with_one_slug_are_refused(tmp_path):
    TeamFactory(slug="platform")
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text("---\ntitle: X\nslug: same\nteam: platform\n---\n\nbody\n")
    with pytest.raises(RunbookError, match="Two files use the slug 'same'"):
        runbook_import_dir(directory=tmp_path)
    assert not Runbook.objects.exists()


def test_a_two_megabyte_file_is_refused_by_name(tmp_path):
    TeamFactory(slug="platform")
    (tmp_path / "huge.md").write_text("---\ntitle: Huge\nteam: platform\n---\n\n" + "x" * 2**21)
    with pytest.raises(RunbookError, match=r"^huge.md: .*limited to 1 MB"):
        runbook_import_dir(directory=tmp_path)
    assert not Runbook.objects.exists()
