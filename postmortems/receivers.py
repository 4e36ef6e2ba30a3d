"""Reactions to incident changes. Run inside the incident's transaction."""

from incidents.models import Status
from postmortems.services import REVIEW_DUE_AFTER, postmortem_generate

AUTO_DRAFT_MAX_LEVEL = 2  # SEV1 and SEV2 get a postmortem draft automatically.


def draft_postmortem_on_resolve(sender, *, incident, old, new, by, **kwargs):
    if new != Status.RESOLVED or incident.severity.level > AUTO_DRAFT_MAX_LEVEL:
        return
    resolved_at = incident.resolved_at
    due_at = resolved_at + REVIEW_DUE_AFTER if resolved_at else None
    postmortem_generate(incident=incident, by=by, due_at=due_at)
