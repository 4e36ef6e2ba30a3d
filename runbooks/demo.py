from runbooks.models import Runbook
from runbooks.services import runbook_library_load


def seed(*, team, users):
    """The runbook library, owned by the demo team's engineering lead. Idempotent."""
    result = runbook_library_load(team_override=team.slug)
    Runbook.objects.filter(owner__isnull=True).update(owner=users["sam"])
    return result
