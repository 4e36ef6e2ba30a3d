"""The seed document's postmortem for its demo incident (v1.5.2 authentication deployment),
with its five action items. Idempotent; skips cleanly when the incident is not seeded."""

from datetime import UTC, date, datetime

import structlog
from django.db import transaction

from incidents import demo as incidents_demo
from incidents.models import Incident, Status
from postmortems import services
from postmortems.models import ActionItem, PostmortemStatus, SectionKey, TimelineSource

log = structlog.get_logger(__name__)

POSTMORTEM_DAY = date(2024, 1, 16)
PUBLISHED_AT = datetime(2024, 1, 16, 15, 0, tzinfo=UTC)

SECTIONS = {
    SectionKey.ROOT_CAUSE: (
        "**What happened**: Deployment v1.5.2 introduced a bug in authentication middleware.\n"
    )
    + """
**Why it happened**:
1. Code change updated JWT validation logic
2. Integration tests didn't cover edge case (expired refresh tokens)
3. Canary deployment was only 5% for 5 minutes (not enough)
4. No alerts fired during canary period (affected <10 users)

**Technical details**:
```python
# Bug in v1.5.2
def validate_token(token):
    # BUG: Crashes on expired refresh tokens
    decoded = jwt.decode(token, verify=True)
    return decoded

# Fix in v1.5.3
def validate_token(token):
    try:
        decoded = jwt.decode(token, verify=True)
        return decoded
    except jwt.ExpiredSignatureError:
        logger.warning("expired_token")
        return None  # Graceful handling
```""",
    SectionKey.WENT_WELL: """- ✅ Alert fired quickly (2 minutes after issue started)
- ✅ On-call responded within 3 minutes
- ✅ Rollback decision made decisively (6 minutes)
- ✅ Rollback was fast and effective (5 minutes)
- ✅ Communication was clear""",
    SectionKey.WENT_WRONG: """- ❌ Bug not caught in testing
- ❌ Canary period too short
- ❌ No alerts during canary
- ❌ Integration tests incomplete""",
    SectionKey.LESSONS: """1. **Testing**: Integration tests must cover edge cases
2. **Canary**: 5 minutes is too short, need 30+ minutes
3. **Monitoring**: Need alerts during canary period
4. **Rollback**: Fast rollback prevented larger impact""",
}

# (action, owner username, due date, priority). "Team" in the seed goes to the team's manager.
ACTION_ITEMS = [
    ("Add integration test for expired tokens", "jordan", date(2024, 1, 17), "P0"),
    ("Extend canary period to 30 minutes", "sam", date(2024, 1, 16), "P0"),
    ("Add canary-specific alerts", "alex", date(2024, 1, 18), "P1"),
    ("Review all auth edge cases", "sam", date(2024, 1, 22), "P1"),
    ("Update runbook with auth debugging", "alex", date(2024, 1, 19), "P2"),
]


def find_incident(team):
    """The incident incidents/demo.py seeds, by the fields it keys on."""
    return (
        Incident.objects.filter(
            team=team,
            title=incidents_demo.TITLE,
            started_at=incidents_demo.STARTED_AT,
            status=Status.RESOLVED,
        )
        .order_by("pk")
        .first()
    )


def seed(*, team, users):
    incident = find_incident(team)
    if incident is None:
        log.info("postmortem_demo_skipped", reason="the seed's incident is not in the demo data")
        return None
    alex, sam = users["alex"], users["sam"]
    with transaction.atomic():
        postmortem, _ = services.postmortem_generate(
            incident=incident, by=alex, timeline_source=TimelineSource.ALL, announce=False
        )
        if postmortem.status == PostmortemStatus.PUBLISHED:
            return postmortem
        if postmortem.status != PostmortemStatus.DRAFT:
            return postmortem
        timeline = postmortem.sections.get(key=SectionKey.TIMELINE)
        services.postmortem_refill_timeline(
            postmortem=postmortem,
            source=TimelineSource.ALL,
            base_version=timeline.version,
            by=alex,
        )
        for section in postmortem.sections.filter(key__in=SECTIONS):
            services.section_save(
                section=section, body=SECTIONS[section.key], base_version=section.version, by=alex
            )
        for title, owner, due, priority in ACTION_ITEMS:
            if not ActionItem.objects.filter(incident=incident, title=title).exists():
                services.action_item_create(
                    incident=incident,
                    postmortem=postmortem,
                    title=title,
                    owner=users[owner],
                    due_date=due,
                    priority=priority,
                    by=alex,
                    today=POSTMORTEM_DAY,
                    announce=False,
                )
        services.postmortem_submit_for_review(postmortem=postmortem, by=alex)
        approval = services.postmortem_approve(postmortem=postmortem, by=sam)
        services.postmortem_publish(postmortem=postmortem, by=sam, announce=False)
        # The seed's document is dated the day after the incident.
        approval.approved_at = PUBLISHED_AT
        approval.save(update_fields=["approved_at"])
        type(postmortem).objects.filter(pk=postmortem.pk).update(
            prepared_by=alex,
            created_at=PUBLISHED_AT.replace(hour=9),
            submitted_at=PUBLISHED_AT.replace(hour=12),
            published_at=PUBLISHED_AT,
            updated_at=PUBLISHED_AT,
        )
    postmortem.refresh_from_db()
    return postmortem
