from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q, Subquery

# The checklist items Vigil ticks itself, as they were when this migration was written.
FACTS = {
    "Alert received and acknowledged": "acknowledged",
    "Severity assessed (SEV1-4)": "severity",
    "Status page updated": "status_page",
    "Incident declared resolved": "resolved",
    "Postmortem scheduled": "postmortem",
    "Action items created": "action_items",
}


def tick_what_vigil_recorded(apps, schema_editor):
    """Existing incidents' checklists get the ticks their timelines already show, dated when
    each fact was recorded. Ticks people made stay as they are."""
    Incident = apps.get_model("incidents", "Incident")
    ChecklistItem = apps.get_model("incidents", "ChecklistItem")
    TimelineEvent = apps.get_model("incidents", "TimelineEvent")
    items = ChecklistItem.objects
    for text, fact in FACTS.items():
        first = items.filter(incident_id=OuterRef("incident_id"), text=text).order_by("position")
        items.filter(text=text, pk=Subquery(first.values("pk")[:1])).update(fact=fact)
    # Vigil's earlier ticks (a postmortem drafted when Vigil resolved) had no person.
    items.filter(done_at__isnull=False, done_by__isnull=True).exclude(fact="").update(
        done_by_vigil=True
    )
    events = TimelineEvent.objects.filter(
        incident_id=OuterRef("incident_id"), deleted_at__isnull=True
    )
    recorded = {
        # The latest: a reopened incident's earlier acknowledgement no longer counts.
        "acknowledged": events.filter(
            Q(kind="ack") | Q(kind="status", data__to="acknowledged")
        ).order_by("-occurred_at"),
        "severity": events.filter(
            Q(kind="declared", author__isnull=False) | Q(kind="severity")
        ).order_by("occurred_at"),
        "postmortem": events.filter(kind="postmortem").order_by("occurred_at"),
    }
    for fact, when in recorded.items():
        open_items = items.filter(fact=fact, done_at__isnull=True).filter(Exists(when))
        if fact == "acknowledged":
            open_items = open_items.filter(incident__acknowledged_at__isnull=False)
        open_items.update(done_at=Subquery(when.values("occurred_at")[:1]), done_by_vigil=True)
    resolved_at = Incident.objects.filter(pk=OuterRef("incident_id")).values("resolved_at")[:1]
    items.filter(fact="resolved", done_at__isnull=True, incident__status="resolved").update(
        done_at=Subquery(resolved_at), done_by_vigil=True
    )


class Migration(migrations.Migration):
    dependencies = [("incidents", "0008_sanitise_stored_event_html")]

    operations = [
        migrations.AddField(
            model_name="checklistitem",
            name="done_by_vigil",
            field=models.BooleanField(
                default=False,
                help_text="Ticked by Vigil when it recorded the fact; no person unticks it.",
            ),
        ),
        migrations.AddField(
            model_name="checklistitem",
            name="fact",
            field=models.CharField(
                blank=True,
                choices=[
                    ("acknowledged", "an acknowledgement was recorded"),
                    ("severity", "a person set the severity"),
                    ("status_page", "a public update was posted to the status page"),
                    ("resolved", "the incident was marked resolved"),
                    ("postmortem", "the postmortem draft was started"),
                    ("action_items", "an action item was created"),
                ],
                help_text="What Vigil records that ticks this item; empty for items only people "
                "tick.",
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="checklistitem",
            constraint=models.UniqueConstraint(
                condition=~models.Q(fact=""),
                fields=("incident", "fact"),
                name="one_checklist_item_per_fact",
            ),
        ),
        migrations.AddConstraint(
            model_name="checklistitem",
            constraint=models.CheckConstraint(
                condition=models.Q(done_by_vigil=False) | ~models.Q(fact=""),
                name="vigil_ticks_only_a_fact",
            ),
        ),
        # Reversed, the ticks stay: the code before this shows a tick without a person as Vigil's.
        migrations.RunPython(tick_what_vigil_recorded, migrations.RunPython.noop),
    ]
