from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from incidents.models import IncidentScoped


class PostmortemStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    PUBLISHED = "published", "Published"


# Sections a person writes, in the seed template's order. Action Items sit between
# What Went Wrong and Lessons Learned and come from ActionItem rows.
class SectionKey(models.TextChoices):
    META = "meta", "Meta"
    IMPACT = "impact", "Impact"
    TIMELINE = "timeline", "Timeline (all times UTC)"
    ROOT_CAUSE = "root_cause", "Root Cause"
    WENT_WELL = "went_well", "What Went Well"
    WENT_WRONG = "went_wrong", "What Went Wrong"
    LESSONS = "lessons", "Lessons Learned"


EDITABLE_STATUSES = {
    PostmortemStatus.DRAFT,
    PostmortemStatus.IN_REVIEW,
    PostmortemStatus.CHANGES_REQUESTED,
}


class TimelineSource(models.TextChoices):
    PINNED = "pinned", "Key (pinned) events"
    ALL = "all", "All events"


class Postmortem(IncidentScoped, models.Model):
    """The blameless write-up of one incident. A published one is frozen; changing it opens
    a new revision (a copy in Draft)."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="postmortems"
    )
    revision = models.PositiveSmallIntegerField(default=1)
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_revision"
    )
    title = models.CharField(max_length=200, help_text="The brief description.")
    status = models.CharField(
        max_length=20, choices=PostmortemStatus.choices, default=PostmortemStatus.DRAFT
    )
    timeline_source = models.CharField(
        max_length=8, choices=TimelineSource.choices, default=TimelineSource.PINNED
    )
    due_at = models.DateTimeField(help_text="When the review should be done.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="postmortems_to_review"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The submission whose reviewers were emailed: a re-run of the task sends nothing.
    reviewers_notified_for = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Plain text of every section, for the library's search.
    search_text = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "revision"], name="one_postmortem_revision_per_incident"
            )
        ]
        indexes = [models.Index(fields=["status", "-published_at"])]

    def __str__(self):
        suffix = f" (revision {self.revision})" if self.revision > 1 else ""
        return f"Postmortem: {self.title}{suffix}"

    def get_absolute_url(self):
        return reverse("postmortem_detail", args=[self.pk])

    @property
    def team(self):
        return self.incident.team

    @property
    def is_editable(self):
        return self.status in EDITABLE_STATUSES

    @property
    def is_overdue(self):
        return self.status != PostmortemStatus.PUBLISHED and self.due_at < timezone.now()


class Section(models.Model):
    """One Markdown section. `version` goes up on every save: a save based on an older
    version is refused, so nobody's text is overwritten silently."""

    postmortem = models.ForeignKey(Postmortem, on_delete=models.CASCADE, related_name="sections")
    key = models.CharField(max_length=16, choices=SectionKey.choices)
    position = models.PositiveSmallIntegerField()
    body = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["postmortem", "key"], name="one_section_per_key")
        ]

    def __str__(self):
        return f"{self.get_key_display()} of {self.postmortem}"

    @property
    def team_id(self):
        return self.postmortem.team_id


class Approval(models.Model):
    """A manager's approval: who and when. Fills "Reviewed by"."""

    postmortem = models.ForeignKey(Postmortem, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["approved_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["postmortem", "approver"], name="one_approval_each")
        ]

    def __str__(self):
        return f"{self.approver} approved {self.postmortem}"


class ReviewThread(models.Model):
    """A reviewer's comment thread on one section; resolved when addressed."""

    postmortem = models.ForeignKey(Postmortem, on_delete=models.CASCADE, related_name="threads")
    section_key = models.CharField(max_length=16, choices=SectionKey.choices)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Thread on {self.get_section_key_display()} of {self.postmortem}"

    @property
    def team_id(self):
        return self.postmortem.team_id

    @property
    def team(self):
        return self.postmortem.team

    @property
    def is_private(self):
        return self.postmortem.is_private


class ReviewComment(models.Model):
    thread = models.ForeignKey(ReviewThread, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Comment by {self.author} on {self.thread}"


class Priority(models.TextChoices):
    P0 = "P0", "P0"
    P1 = "P1", "P1"
    P2 = "P2", "P2"


class ActionItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    WONT_DO = "wont_do", "Won't do"


OPEN_ACTION_STATUSES = [ActionItemStatus.OPEN, ActionItemStatus.IN_PROGRESS]


class ActionItem(models.Model):
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="action_items"
    )
    postmortem = models.ForeignKey(
        Postmortem, null=True, blank=True, on_delete=models.SET_NULL, related_name="action_items"
    )
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="action_items")
    title = models.CharField(max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="action_items"
    )
    due_date = models.DateField()
    priority = models.CharField(max_length=2, choices=Priority.choices, default=Priority.P1)
    status = models.CharField(
        max_length=12, choices=ActionItemStatus.choices, default=ActionItemStatus.OPEN
    )
    tracker_url = models.URLField(blank=True, help_text="Optional link to an external tracker.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "priority", "id"]
        indexes = [
            models.Index(fields=["status", "due_date"]),
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["team", "status"]),
        ]

    def __str__(self):
        return self.title

    @property
    def is_private(self):
        return self.incident.is_private

    @property
    def is_open(self):
        return self.status in OPEN_ACTION_STATUSES

    def is_overdue_on(self, day):
        return self.is_open and self.due_date < day


class DigestSent(models.Model):
    """One row per person per day: the unique constraint makes a second run send nothing."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    sent_on = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)
    item_ids = models.JSONField(default=list)

    class Meta:
        ordering = ["-sent_on"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "sent_on"], name="one_digest_per_day")
        ]

    def __str__(self):
        return f"Digest to {self.recipient} on {self.sent_on}"
