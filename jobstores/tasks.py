"""Job-store work for the workers: beat asks every minute, each store gets a scan and a
queue/flag reading of its own (a slow store holds up nobody else)."""

import structlog
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from common.enqueue import enqueue
from jobstores import services
from jobstores.models import JobStore, RunStatus, RunTrigger, ScanRun

logger = structlog.get_logger(__name__)


@shared_task(name="jobstores.tasks.schedule_scans", time_limit=60, soft_time_limit=50)
def schedule_scans():
    for store in JobStore.objects.filter(enabled=True).select_related("team"):
        services.scan_start(store=store, trigger=RunTrigger.SCHEDULE)
        enqueue("jobstores.tasks.monitor_store", store.pk)


@shared_task(name="jobstores.tasks.run_scan", time_limit=660, soft_time_limit=600)
def run_scan(run_id):
    try:
        services.scan_run(run_id)
    except SoftTimeLimitExceeded:
        ScanRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED, errors=["The scan took longer than 10 min and was stopped."]
        )
        logger.warning("jobstore_scan_timed_out", run_id=run_id)


@shared_task(name="jobstores.tasks.monitor_store", time_limit=120, soft_time_limit=100)
def monitor_store(store_id):
    store = JobStore.objects.select_related("team").filter(pk=store_id, enabled=True).first()
    if store is not None:
        services.monitor_store(store)
