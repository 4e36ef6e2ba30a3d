"""`manage.py debug_tools`, the source document's CLI, on real data: JSON on stdout and
nothing else with --json, the seed's lines without it, the seed's shapes."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEntry
from jobstores.models import ScanRun
from tests.alerts_fixtures import fast_passwords  # noqa: F401
from tests.celery_worker import test_database_url
from tests.jobstores_fixtures import seed_job, store_url

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("debug_tools", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_stale_jobs_json_has_the_seeds_list_beside_the_counts(watched):
    seed_job(watched, "old", age=900, now=timezone.now())
    seed_job(watched, "new", age=5, now=timezone.now())
    out, _ = run("stale-jobs", "--redis-url", store_url(), "--json")
    data = json.loads(out)
    assert [j["job_id"] for j in data["stale_jobs"]] == ["old"]
    assert set(data["stale_jobs"][0]) >= {
        "job_id",
        "user_id",
        "message",
        "started_at",
        "age_seconds",
    }
    assert data["counts"]["stale"] == 1 and data["counts"]["processing"] == 1
    assert data["keys_scanned"] == 2


def test_stale_jobs_without_json_prints_the_seeds_lines(watched):
    seed_job(watched, "old", age=900)
    out, _ = run("stale-jobs", "--redis-url", store_url(), "--age", "60")
    lines = out.splitlines()
    assert lines[0] == "Found 1 stale jobs:"
    assert lines[1].startswith("  - old: ") and lines[1].endswith("s old")


def test_kill_stale_on_a_target_is_recorded_and_audited(watched, store):
    seed_job(watched, "old", age=900)
    out, _ = run("kill-stale", "--target", store.name, "--json")
    assert json.loads(out)["killed"] == 1
    assert json.loads(watched.get("job:old"))["status"] == "failed"
    assert ScanRun.objects.filter(store=store, trigger="cli").count() == 1
    assert AuditEntry.objects.filter(action="jobstore.kill").count() == 1
    out, _ = run("kill-stale", "--target", store.name)
    assert out.strip() == "Killed 0 stale jobs"


def test_analyze_conv_gives_the_seeds_keys_and_the_runaway_signals(watched):
    messages = [{"role": "user", "content": "find flights"}]
    for _ in range(6):
        messages.append(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "search", "input": {"q": "x"}}],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t", "content": "no"}],
            }
        )
    watched.set("conv:abc", json.dumps(messages))
    out, _ = run("analyze-conv", "--conv-id", "abc", "--redis-url", store_url(), "--json")
    data = json.loads(out)
    assert data["total_messages"] == 13
    assert set(data) >= {
        "total_messages",
        "user_messages",
        "assistant_messages",
        "estimated_tokens",
        "sample_messages",
        "runaway",
    }
    assert len(data["sample_messages"]) == 5
    assert "tool_loop" in {s["kind"] for s in data["runaway"]["signals"]}


def test_analyze_conv_needs_a_conversation_id_as_in_the_seed(watched):
    with pytest.raises(SystemExit) as exited:
        run("analyze-conv", "--redis-url", store_url())
    assert exited.value.code == 1


def test_errors_gives_the_seeds_shape_from_the_stream(watched):
    for kind, n in (("APITimeoutError", 3), ("RateLimitError", 1)):
        for _ in range(n):
            watched.xadd("agent-errors", {"type": kind})
    out, _ = run("errors", "--stream", "agent-errors", "--hours", "1", "--redis-url", store_url())
    data = json.loads(out)
    assert data["total_errors"] == 4
    assert data["top_errors"][0] == {"type": "APITimeoutError", "count": 3, "percentage": 75.0}


def test_an_unknown_target_is_a_clear_error():
    with pytest.raises(CommandError, match="No job store named"):
        run("stale-jobs", "--target", "nope")


def test_the_process_prints_json_and_nothing_else_on_stdout(watched):
    seed_job(watched, "old", age=900)
    env = {**os.environ, "DATABASE_URL": test_database_url(), "LOG_FORMAT": "console"}
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "debug_tools",
            "stale-jobs",
            "--json",
            "--redis-url",
            store_url(),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout)["stale_jobs"][0]["job_id"] == "old"


def test_a_redis_that_does_not_answer_is_an_error_not_a_traceback():
    with pytest.raises(CommandError, match="127.0.0.1:1"):
        run("stale-jobs", "--redis-url", "redis://127.0.0.1:1/0", "--json")
