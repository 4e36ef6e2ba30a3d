from datetime import timedelta

from django.utils import timezone

from runbooks.models import Runbook
from runbooks.services import runbook_library_load

# Two runbooks nobody has looked at for a while, so the review reminders have something to show.
NEGLECTED = ("certificate-expiry", "disk-space-full")


def seed(*, team, users):
    """The runbook library, owned by the demo team's engineering lead. Idempotent."""
    result = runbook_library_load(team_override=team.slug)
    Runbook.objects.filter(owner__isnull=True).update(owner=users["sam"])
    Runbook.objects.filter(slug__in=NEGLECTED, last_reviewed_at__isnull=True).update(
        last_reviewed_at=timezone.now() - timedelta(days=120), last_reviewed_by=users["sam"]
    )
    return result
