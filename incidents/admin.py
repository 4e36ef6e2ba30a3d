from django.contrib import admin

from audit.admin_base import AuditedAdmin
from common.admin import ReadOnlyAdmin
from incidents.models import (
    ChecklistItem,
    Incident,
    Severity,
    TimelineEvent,
    TimelineEventRevision,
)


@admin.register(Severity)
class SeverityAdmin(AuditedAdmin):
    list_display = ["name", "title", "pages", "update_cadence_minutes"]
    list_editable = ["title", "pages", "update_cadence_minutes"]
    fields = ["level", "name", "title", "description", "pages", "update_cadence_minutes"]
    readonly_fields = ["level", "name"]
    ordering = ["level"]

    def has_add_permission(self, request):
        return False  # the four levels come from a migration; admins edit wording and policy

    def has_delete_permission(self, request, obj=None):
        return False


class ChecklistItemInline(admin.TabularInline):
    model = ChecklistItem
    extra = 0
    fields = ["phase", "position", "text", "done_at", "done_by"]
    readonly_fields = ["phase", "position", "text", "done_at", "done_by"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(AuditedAdmin):
    list_display = ["id", "title", "severity", "team", "status", "is_private", "declared_at"]
    list_filter = ["status", "severity", "team", "is_private"]
    search_fields = ["title", "summary"]
    date_hierarchy = "declared_at"
    list_select_related = ["severity", "team"]
    raw_id_fields = ["declared_by", "commander", "comms_lead", "scribe"]
    filter_horizontal = ["responders"]
    readonly_fields = [
        "status",
        "declared_at",
        "acknowledged_at",
        "mitigated_at",
        "resolved_at",
        "timeline_seq",
    ]
    inlines = [ChecklistItemInline]


class TimelineEventRevisionInline(admin.TabularInline):
    model = TimelineEventRevision
    extra = 0
    fields = ["body", "replaced_at", "replaced_by"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TimelineEvent)
class TimelineEventAdmin(ReadOnlyAdmin, AuditedAdmin):
    """Read-mostly: timeline changes go through the incident page so they reach live viewers."""

    list_display = ["id", "incident", "kind", "occurred_at", "author", "pinned", "deleted_at"]
    list_filter = ["kind", "pinned"]
    search_fields = ["body"]
    list_select_related = ["incident", "author"]
    raw_id_fields = ["incident", "author", "deleted_by"]
    readonly_fields = ["body_html", "seq", "created_at", "edited_at", "deleted_at", "deleted_by"]
    inlines = [TimelineEventRevisionInline]


@admin.register(TimelineEventRevision)
class TimelineEventRevisionAdmin(AuditedAdmin):
    list_display = ["id", "event", "replaced_at", "replaced_by"]
    list_select_related = ["event", "replaced_by"]
    readonly_fields = ["event", "body", "replaced_at", "replaced_by"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChecklistItem)
class ChecklistItemAdmin(AuditedAdmin):
    list_display = ["id", "incident", "phase", "text", "done_at", "done_by"]
    list_filter = ["phase"]
    list_select_related = ["incident", "done_by"]
    raw_id_fields = ["incident", "done_by"]
    search_fields = ["text"]
