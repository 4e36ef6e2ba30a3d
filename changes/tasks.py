import structlog
from celery import shared_task

from changes import recovery

logger = structlog.get_logger(__name__)


# A tick reads its watches side by side, each reading within PROMETHEUS_QUERY_TIMEOUT (3 s by
# default): the limits leave room for a few rounds of readings and the recording.
@shared_task(name="changes.tasks.recovery_watch_tick", time_limit=60, soft_time_limit=45)
def recovery_watch_tick():
    """Scheduled by beat: read the recovery watches whose next reading is due and finish
    those whose time is up. Idempotent: a watch is moved to its next reading before it is
    read, so a second tick or worker skips it, and a finished watch takes no more."""
    sampled = recovery.watches_sample_due()
    if sampled:
        logger.info("recovery_watches_sampled", watches=sampled)
    return sampled
