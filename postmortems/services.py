"""Writes for postmortems, their review and their action items. Keyword-only; each runs in
one transaction with its audit entry."""

from datetime import timedelta

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import timezone

from audit.services import audit_record
from common.enqueue import enqueue
from incidents.models import ChecklistFact, EventKind, Incident, Status
from incidents.services import checklist_tick_recorded, timeline_event_add
from postmortems import document
from postmortems.models import (
    EDITABLE_STATUSES,
    OPEN_ACTION_STATUSES,
    ActionItem,
    ActionItemStatus,
    Approval,
    DigestSent,
    Postmortem,
    PostmortemStatus,
    Priority,
    ReviewComment,
    ReviewThread,
    Section,
    SectionKey,
    TimelineSource,
)
from teams import access
from teams.access import members_with_role, roles_at_least
from teams.models import Membership, Role

log = structlog.get_logger(__name__)

REVIEW_DUE_AFTER = timedelta(hours=48)
MAX_SECTION_LENGTH = 50_000


class PostmortemError(ValueError):
    """A request the postmortem cannot honour; the message is shown to the person."""


class PostmortemForbidden(PostmortemError):
    """The person's role does not allow this step; the message says who may."""


class SectionConflict(PostmortemError):
    """Someone saved the section since this edit began; carries the saved version."""

    def __init__(self, current: Section, attempted: str):
        super().__init__(
            f"{current.updated_by.display_name if current.updated_by else 'Someone'} saved "
            f"“{current.get_key_display()}” while you were editing. Nothing was overwritten: "
            "compare both versions, merge them, and save again."
        )
        self.current = current
        self.attempted = attempted


def _timeline_events(incident, source):
    # Postmortem bookkeeping is about the write-up, not the incident.
    events = (
        incident.events.filter(deleted_at__isnull=True)
        .exclude(kind=EventKind.POSTMORTEM)
        .order_by("occurred_at", "id")
    )
    if source == TimelineSource.PINNED:
        events = events.filter(pinned=True)
    return events


def _clean(text) -> str:
    # PostgreSQL cannot store NUL characters; they are never meaningful in prose.
    return (text or "").replace("\x00", "")


def _refresh_search_text(postmortem):
    bodies = Section.objects.filter(postmortem=postmortem).values_list("body", flat=True)
    text = "\n".join([postmortem.title, postmortem.incident.title, *bodies])
    Postmortem.objects.filter(pk=postmortem.pk).update(search_text=text, updated_at=timezone.now())


def postmortem_generate(
    *, incident, by, due_at=None, timeline_source=TimelineSource.PINNED, announce=True
) -> tuple[Postmortem, bool]:
    """The postmortem of a resolved incident, pre-filled from it. Idempotent: returns the
    incident's latest postmortem if there is one. Returns (postmortem, created).
    `announce=False` leaves the incident's timeline alone (demo data recreating history)."""
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update(of=("self",))
            .select_related("severity", "team", "commander", "comms_lead", "scribe")
            .get(pk=incident.pk)
        )
        existing = incident.postmortems.order_by("-revision").first()
        if existing is not None:
            return existing, False
        if incident.status != Status.RESOLVED:
            raise PostmortemError("A postmortem is written once the incident is resolved.")
        timeline_source = TimelineSource(timeline_source)
        now = timezone.now()
        postmortem = Postmortem.objects.create(
            incident=incident,
            title=incident.title,
            timeline_source=timeline_source,
            due_at=due_at or now + REVIEW_DUE_AFTER,
            created_at=now,
            updated_at=now,
            prepared_by=by,
        )
        bodies = document.initial_sections(
            incident, _timeline_events(incident, timeline_source).select_related(None)
        )
        Section.objects.bulk_create(
            Section(postmortem=postmortem, key=key, position=i, body=bodies[key], updated_by=by)
            for i, key in enumerate(SectionKey)
        )
        ActionItem.objects.filter(incident=incident, postmortem__isnull=True).update(
            postmortem=postmortem
        )
        _refresh_search_text(postmortem)
        who = by.display_name if by else "Vigil"
        if announce:
            timeline_event_add(
                incident=incident,
                kind=EventKind.POSTMORTEM,
                author=by,
                body=f"{who} started the postmortem draft (review due "
                f"{postmortem.due_at:%Y-%m-%d %H:%M} UTC)",
                data={"postmortem_id": postmortem.pk},
            )
            checklist_tick_recorded(incident=incident, fact=ChecklistFact.POSTMORTEM)
        audit_record(
            actor=by,
            action="postmortem.generate",
            obj=postmortem,
            after={"incident": incident.pk, "timeline_source": timeline_source},
        )
    log.info("postmortem_generated", incident_id=incident.pk, postmortem_id=postmortem.pk)
    return postmortem, True


def postmortem_refill_timeline(*, postmortem, source, base_version, by) -> Section:
    """Rebuild the Timeline section from the incident's key events or all its events."""
    source = TimelineSource(source)
    incident = postmortem.incident
    body = document.timeline_body(incident, _timeline_events(incident, source))
    with transaction.atomic():
        section = section_save(
            section=postmortem.sections.get(key=SectionKey.TIMELINE),
            body=body,
            base_version=base_version,
            by=by,
        )
        Postmortem.objects.filter(pk=postmortem.pk).update(timeline_source=source)
    return section


def _lock_postmortem(postmortem) -> Postmortem:
    return (
        Postmortem.objects.select_for_update(of=("self",))
        .select_related("incident__team")
        .get(pk=postmortem.pk)
    )


def _refuse_unless_editable(postmortem):
    if postmortem.status == PostmortemStatus.PUBLISHED:
        raise PostmortemError(
            "This postmortem is published and can no longer be edited. "
            "Open a new revision to change it."
        )
    if postmortem.status not in EDITABLE_STATUSES:
        raise PostmortemError(
            f"A postmortem that is {postmortem.get_status_display().lower()} cannot be edited."
        )


def section_save(*, section, body, base_version, by) -> Section:
    """Save a section if nobody saved it since `base_version`; otherwise SectionConflict."""
    body = _clean(body).replace("\r\n", "\n")
    if len(body) > MAX_SECTION_LENGTH:
        raise PostmortemError(f"A section is limited to {MAX_SECTION_LENGTH:,} characters.")
    try:
        base_version = int(base_version)
    except (TypeError, ValueError):
        raise PostmortemError("The edit did not say which version it started from.") from None
    with transaction.atomic():
        postmortem = _lock_postmortem(section.postmortem)
        _refuse_unless_editable(postmortem)
        current = (
            Section.objects.select_for_update(of=("self",))
            .select_related("updated_by")
            .get(pk=section.pk)
        )
        if current.version != base_version:
            if current.body == body:
                return current
            raise SectionConflict(current, body)
        if current.body == body:
            return current
        before = current.body
        current.body = body
        current.version += 1
        current.updated_at = timezone.now()
        current.updated_by = by
        current.save(update_fields=["body", "version", "updated_at", "updated_by"])
        _refresh_search_text(postmortem)
        audit_record(
            actor=by,
            action="postmortem.section_save",
            obj=postmortem,
            before={"section": current.key, "body": before},
            after={"section": current.key, "body": body, "version": current.version},
        )
    return current


def team_managers(team_id):
    return members_with_role(team_id, Role.MANAGER).order_by("username")


def postmortem_submit_for_review(*, postmortem, by, reviewers=None) -> Postmortem:
    with transaction.atomic():
        postmortem = _lock_postmortem(postmortem)
        if postmortem.status not in (PostmortemStatus.DRAFT, PostmortemStatus.CHANGES_REQUESTED):
            raise PostmortemError(
                f"A postmortem that is {postmortem.get_status_display().lower()} "
                "cannot be sent for review."
            )
        reviewers = list(reviewers) if reviewers else list(team_managers(postmortem.team_id))
        if not reviewers:
            raise PostmortemError(
                f"{postmortem.team} has no manager to review this; choose reviewers."
            )
        outsiders = [
            r for r in reviewers if not access.has_team_role(r, postmortem.team_id, Role.VIEWER)
        ]
        if outsiders:
            raise PostmortemError(
                f"Reviewers must be members of {postmortem.team}: "
                f"{', '.join(r.display_name for r in outsiders)} is not."
            )
        before = postmortem.status
        postmortem.status = PostmortemStatus.IN_REVIEW
        postmortem.submitted_at = timezone.now()
        postmortem.save(update_fields=["status", "submitted_at"])
        postmortem.reviewers.set(reviewers)
        audit_record(
            actor=by,
            action="postmortem.submit",
            obj=postmortem,
            before={"status": before},
            after={"status": postmortem.status, "reviewers": [r.username for r in reviewers]},
        )
        enqueue("postmortems.tasks.notify_reviewers", postmortem.pk)
    return postmortem


def postmortem_notify_reviewers(*, postmortem_id) -> int:
    """Email the reviewers of the latest submission, once. Returns how many were emailed."""
    postmortem = (
        Postmortem.objects.select_related("incident__team", "prepared_by")
        .filter(pk=postmortem_id, status=PostmortemStatus.IN_REVIEW)
        .first()
    )
    if postmortem is None or postmortem.submitted_at is None:
        return 0
    with transaction.atomic():
        claimed = (
            Postmortem.objects.filter(pk=postmortem.pk, submitted_at=postmortem.submitted_at)
            .exclude(reviewers_notified_for=postmortem.submitted_at)
            .update(reviewers_notified_for=postmortem.submitted_at)
        )
        if claimed != 1:
            return 0
        recipients = [r.email for r in postmortem.reviewers.all() if r.email and r.is_active]
        if recipients:
            url = f"{settings.SITE_URL}{postmortem.get_absolute_url()}"
            send_mail(
                f"[Vigil] Postmortem to review: {postmortem.title}",
                f"{postmortem} for {postmortem.team} is ready for your review.\n"
                f"Review due {postmortem.due_at:%Y-%m-%d %H:%M} UTC.\n\n{url}\n",
                None,
                recipients,
            )
    log.info("postmortem_reviewers_notified", postmortem_id=postmortem.pk, count=len(recipients))
    return len(recipients)


def _require_manager(postmortem, by, what):
    if not access.can(by, access.MANAGE, postmortem):
        raise PostmortemForbidden(
            f"Only a manager of {postmortem.team} can {what} a postmortem; "
            "ask one of the team's managers."
        )


def postmortem_request_changes(*, postmortem, by, note="") -> Postmortem:
    with transaction.atomic():
        postmortem = _lock_postmortem(postmortem)
        _require_manager(postmortem, by, "request changes to")
        if postmortem.status not in (PostmortemStatus.IN_REVIEW, PostmortemStatus.APPROVED):
            raise PostmortemError(
                "Changes can be requested only while the postmortem is in review."
            )
        before = postmortem.status
        postmortem.status = PostmortemStatus.CHANGES_REQUESTED
        postmortem.save(update_fields=["status"])
        postmortem.approvals.all().delete()
        note = _clean(note).strip()
        if note:
            thread = ReviewThread.objects.create(
                postmortem=postmortem, section_key=SectionKey.META, created_by=by
            )
            ReviewComment.objects.create(thread=thread, author=by, body=note)
        audit_record(
            actor=by,
            action="postmortem.request_changes",
            obj=postmortem,
            before={"status": before},
            after={"status": postmortem.status, "note": note},
        )
    return postmortem


def postmortem_approve(*, postmortem, by) -> Approval:
    with transaction.atomic():
        postmortem = _lock_postmortem(postmortem)
        _require_manager(postmortem, by, "approve")
        if postmortem.status not in (PostmortemStatus.IN_REVIEW, PostmortemStatus.APPROVED):
            raise PostmortemError(
                f"A postmortem that is {postmortem.get_status_display().lower()} cannot be "
                "approved; it must be in review."
            )
        approval, _ = Approval.objects.get_or_create(postmortem=postmortem, approver=by)
        before = postmortem.status
        postmortem.status = PostmortemStatus.APPROVED
        postmortem.save(update_fields=["status"])
        audit_record(
            actor=by,
            action="postmortem.approve",
            obj=postmortem,
            before={"status": before},
            after={"status": postmortem.status, "approved_at": approval.approved_at.isoformat()},
        )
    return approval


def postmortem_publish(*, postmortem, by, announce=True) -> Postmortem:
    with transaction.atomic():
        postmortem = _lock_postmortem(postmortem)
        _require_manager(postmortem, by, "publish")
        if postmortem.status != PostmortemStatus.APPROVED:
            raise PostmortemError("Only an approved postmortem can be published.")
        postmortem.status = PostmortemStatus.PUBLISHED
        postmortem.published_at = timezone.now()
        postmortem.published_by = by
        postmortem.save(update_fields=["status", "published_at", "published_by"])
        if announce:
            timeline_event_add(
                incident=postmortem.incident,
                kind=EventKind.POSTMORTEM,
                author=by,
                body=f"{by.display_name} published the postmortem",
                data={"postmortem_id": postmortem.pk},
            )
        audit_record(
            actor=by,
            action="postmortem.publish",
            obj=postmortem,
            before={"status": PostmortemStatus.APPROVED},
            after={"status": postmortem.status},
        )
    return postmortem


def postmortem_open_revision(*, postmortem, by) -> Postmortem:
    """A published postmortem is never edited: a copy in Draft carries the changes."""
    with transaction.atomic():
        postmortem = _lock_postmortem(postmortem)
        if postmortem.status != PostmortemStatus.PUBLISHED:
            raise PostmortemError("Only a published postmortem gets a new revision.")
        existing = Postmortem.objects.filter(previous=postmortem).first()
        if existing is not None:
            return existing
        latest = postmortem.incident.postmortems.aggregate(m=Max("revision"))["m"] or 1
        now = timezone.now()
        revision = Postmortem.objects.create(
            incident=postmortem.incident,
            revision=latest + 1,
            previous=postmortem,
            title=postmortem.title,
            timeline_source=postmortem.timeline_source,
            due_at=now + REVIEW_DUE_AFTER,
            created_at=now,
            updated_at=now,
            prepared_by=by,
            search_text=postmortem.search_text,
        )
        Section.objects.bulk_create(
            Section(postmortem=revision, key=s.key, position=s.position, body=s.body, updated_by=by)
            for s in postmortem.sections.all()
        )
        audit_record(
            actor=by,
            action="postmortem.open_revision",
            obj=revision,
            after={"previous": postmortem.pk, "revision": revision.revision},
        )
    return revision


def thread_start(*, postmortem, section_key, body, by) -> ReviewThread:
    body = _clean(body).strip()
    if not body:
        raise PostmortemError("A comment needs some text.")
    if section_key not in SectionKey.values:
        raise PostmortemError("Choose the section the comment is about.")
    with transaction.atomic():
        thread = ReviewThread.objects.create(
            postmortem=postmortem, section_key=section_key, created_by=by
        )
        ReviewComment.objects.create(thread=thread, author=by, body=body)
        audit_record(
            actor=by, action="postmortem.comment", obj=postmortem, after={"section": section_key}
        )
    return thread


def thread_reply(*, thread, body, by) -> ReviewComment:
    body = _clean(body).strip()
    if not body:
        raise PostmortemError("A reply needs some text.")
    with transaction.atomic():
        thread = ReviewThread.objects.select_for_update().get(pk=thread.pk)
        if thread.resolved_at:
            raise PostmortemError("This thread is resolved; start a new one.")
        comment = ReviewComment.objects.create(thread=thread, author=by, body=body)
        audit_record(
            actor=by, action="postmortem.reply", obj=thread.postmortem, after={"thread": thread.pk}
        )
    return comment


def thread_resolve(*, thread, by) -> ReviewThread:
    with transaction.atomic():
        thread = ReviewThread.objects.select_for_update().get(pk=thread.pk)
        if thread.resolved_at:
            return thread
        thread.resolved_at, thread.resolved_by = timezone.now(), by
        thread.save(update_fields=["resolved_at", "resolved_by"])
        audit_record(
            actor=by,
            action="postmortem.thread_resolve",
            obj=thread.postmortem,
            after={"thread": thread.pk},
        )
    return thread


def action_item_create(
    *,
    incident,
    title,
    owner,
    due_date,
    priority,
    by,
    postmortem=None,
    tracker_url="",
    today=None,
    announce=True,
) -> ActionItem:
    """`today` is the day the item is written (the demo backdates it to the seed's day);
    `announce=False` leaves the incident's checklist and timeline alone."""
    title = _clean(title).strip()
    if not title:
        raise PostmortemError("An action item needs a title.")
    if owner is None:
        raise PostmortemError("An action item needs an owner.")
    if due_date is None:
        raise PostmortemError("An action item needs a due date.")
    if priority not in Priority.values:
        raise PostmortemError("Priority is P0, P1 or P2.")
    today = today or timezone.localdate()
    if due_date < today:
        raise PostmortemError(
            f"The due date {due_date:%Y-%m-%d} is in the past; choose today or later."
        )
    if not Membership.objects.filter(team_id=incident.team_id, user=owner).exists():
        raise PostmortemError(
            f"{owner.display_name} is not in {incident.team}; the owner of an action item must "
            "be in the incident's team."
        )
    with transaction.atomic():
        if postmortem is not None:
            postmortem = _lock_postmortem(postmortem)
            _refuse_unless_editable(postmortem)
        item = ActionItem.objects.create(
            incident=incident,
            postmortem=postmortem,
            team_id=incident.team_id,
            title=title[:300],
            owner=owner,
            due_date=due_date,
            priority=priority,
            tracker_url=tracker_url or "",
            created_by=by,
        )
        if announce:
            checklist_tick_recorded(incident=incident, fact=ChecklistFact.ACTION_ITEMS)
        audit_record(
            actor=by,
            action="action_item.create",
            obj=item,
            after={
                "title": item.title,
                "owner": owner.username,
                "due_date": due_date.isoformat(),
                "priority": priority,
            },
        )
    return item


def action_item_set_status(*, item, status, by) -> ActionItem:
    if status not in ActionItemStatus.values:
        raise PostmortemError("Unknown status for an action item.")
    with transaction.atomic():
        item = ActionItem.objects.select_for_update().get(pk=item.pk)
        if item.status == status:
            return item
        before = item.status
        item.status = status
        item.completed_at = timezone.now() if status not in OPEN_ACTION_STATUSES else None
        item.save(update_fields=["status", "completed_at"])
        audit_record(
            actor=by,
            action="action_item.status",
            obj=item,
            before={"status": before},
            after={"status": status},
        )
    return item


def _overdue_digests(today):
    """{user: [items]} — owners get their overdue items; managers get their teams' overdue P0s."""
    overdue = list(
        ActionItem.objects.filter(status__in=OPEN_ACTION_STATUSES, due_date__lt=today)
        .select_related("owner", "team", "incident")
        .order_by("due_date", "priority", "id")
    )
    digests: dict[int, tuple] = {}
    for item in overdue:
        if item.owner.is_active and item.owner.email:
            digests.setdefault(item.owner.pk, (item.owner, []))[1].append(item)
    p0_teams = {item.team_id for item in overdue if item.priority == Priority.P0}
    if p0_teams:
        managers = Membership.objects.filter(
            team_id__in=p0_teams, role__in=roles_at_least(Role.MANAGER), user__is_active=True
        ).select_related("user")
        for membership in managers:
            user = membership.user
            if not user.email:
                continue
            entry = digests.setdefault(user.pk, (user, []))
            for item in overdue:
                if (
                    item.priority == Priority.P0
                    and item.team_id == membership.team_id
                    and item not in entry[1]
                ):
                    entry[1].append(item)
    return digests


def overdue_digests_send(*, today=None) -> int:
    """Email each person their overdue action items, at most once per day. Returns how many
    digests went out on this run."""
    today = today or timezone.now().date()
    sent = 0
    for user, items in _overdue_digests(today).values():
        try:
            with transaction.atomic():
                DigestSent.objects.create(
                    recipient=user, sent_on=today, item_ids=[i.pk for i in items]
                )
                body = render_to_string(
                    "postmortems/digest_email.txt",
                    {"user": user, "items": items, "today": today, "site": settings.SITE_URL},
                )
                # Inside the transaction: a failed send rolls the record back for a retry.
                send_mail(
                    f"[Vigil] {len(items)} overdue action item{'s' if len(items) != 1 else ''}",
                    body,
                    None,
                    [user.email],
                )
        except IntegrityError:
            continue
        sent += 1
        log.info("action_item_digest_sent", user_id=user.pk, items=len(items))
    return sent
