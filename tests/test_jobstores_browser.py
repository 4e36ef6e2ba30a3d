"""In a real Chromium: a scan's progress bar moves while a worker scans and gives way to the
result; a responder picks stale jobs, confirms, and they are killed; a responder turns a flag
off from the incident page."""

import json

import pytest
from playwright.sync_api import expect

from bench.sse_pool_bench import session_cookie
from common import live
from jobstores import services
from jobstores.models import RunStatus, RunTrigger, ScanRun
from tests.alerts_fixtures import fast_passwords  # noqa: F401
from tests.factories import PASSWORD
from tests.jobstores_fixtures import NOW, seed_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def log_in(page, base_url, user):
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_the_progress_bar_follows_a_running_scan_to_its_result(page, web_process, store, on_call):
    """On the real ASGI server, whose live stream carries the scan (live_server's WSGI
    cannot stream)."""
    _, people = on_call
    run = ScanRun.objects.create(
        store=store, trigger=RunTrigger.SCHEDULE, dbsize=2000, keys_scanned=500
    )
    name, _, value = session_cookie(people["primary"].username).partition("=")
    page.context.add_cookies([{"name": name, "value": value, "url": web_process.url}])
    page.goto(web_process.url + "/")
    page.get_by_role("link", name="Job stores").click()
    with page.expect_response(lambda r: "/live/?jobstore=" in r.url):
        page.get_by_role("link", name="Agent platform").click()
    progress = page.get_by_role("progressbar")
    expect(progress).to_have_attribute("value", "25")
    expect(page.get_by_text("Scanning: 500 of 2000 keys")).to_be_visible()
    # The worker writes its progress and announces it; the page follows without a reload.
    page.evaluate("window.__sameDocument = true")
    ScanRun.objects.filter(pk=run.pk).update(keys_scanned=1500)
    live.publish(services.scan_topic(store.pk))
    expect(progress).to_have_attribute("value", "75", timeout=3000)
    ScanRun.objects.filter(pk=run.pk).update(
        status=RunStatus.OK, keys_scanned=2000, stale_count=0, duration_seconds=0.4
    )
    live.publish(services.scan_topic(store.pk))
    expect(page.get_by_text("0 stale jobs")).to_be_visible(timeout=3000)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.get_by_role("progressbar")).to_have_count(0)


def test_a_responder_kills_chosen_stale_jobs_after_confirming(
    page, live_server, store, watched, on_call
):
    _, people = on_call
    for job_id in ("job-a", "job-b", "job-c"):
        seed_job(watched, job_id, age=900)
    run = ScanRun.objects.create(store=store, trigger=RunTrigger.PERSON, max_age_seconds=300)
    services.scan_run(run.pk, now=NOW)
    log_in(page, live_server.url, people["primary"])
    page.goto(f"{live_server.url}/jobstores/{store.pk}/")
    stale = page.get_by_role("region", name="Stale jobs (3)")
    stale.get_by_role("checkbox", name="Kill job job-a").check()
    stale.get_by_role("checkbox", name="Kill job job-c").check()
    stale.get_by_role("button", name="Kill selected jobs").click()
    expect(page.get_by_role("heading", name="Kill 2 stale jobs?")).to_be_visible()
    assert json.loads(watched.get("job:job-a"))["status"] == "processing"
    page.get_by_role("button", name="Kill 2 jobs").click()
    expect(page.get_by_text("Killed 2 stale jobs.")).to_be_visible()
    assert json.loads(watched.get("job:job-a"))["status"] == "failed"
    assert json.loads(watched.get("job:job-b"))["status"] == "processing"
    assert json.loads(watched.get("job:job-c"))["status"] == "failed"


def test_a_responder_disables_a_feature_from_the_incident_page(
    page, live_server, store, watched, on_call
):
    _, people = on_call
    watched.set("flag:search_tool", "true")
    services.monitor_store(store)
    seed_job(watched, "stuck", age=900)
    run = ScanRun.objects.create(store=store, trigger=RunTrigger.PERSON, max_age_seconds=300)
    services.scan_run(run.pk, now=NOW)
    incident = services.open_incident_for(store)
    assert incident is not None
    log_in(page, live_server.url, people["primary"])
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    page.get_by_role("button", name="Disable feature flag:search_tool").click()
    expect(page.get_by_role("heading", name="Disable flag:search_tool?")).to_be_visible()
    page.get_by_role("button", name="Disable feature").click()
    expect(page.get_by_text("Turned flag:search_tool off (true → false).")).to_be_visible()
    expect(page.get_by_role("region", name="Timeline")).to_contain_text(
        "Turned feature flag flag:search_tool off in Agent platform"
    )
    assert watched.get("flag:search_tool") == b"false"
