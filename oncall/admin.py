from django.contrib import admin

from audit.admin_base import AuditedAdmin
from oncall.forms import ContactMethodForm
from oncall.models import (
    CalendarToken,
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    HandoffNote,
    Layer,
    LayerMember,
    Override,
    Schedule,
    SwapRequest,
)


@admin.register(ContactMethod)
class ContactMethodAdmin(AuditedAdmin):
    # The checks "How to reach you" makes, the outgoing-URL one (common/outbound.py) too.
    form = ContactMethodForm
    fields = ["user", "kind", "value", "label"]
    list_display = ["user", "kind", "value", "label"]
    list_filter = ["kind"]
    autocomplete_fields = ["user"]


class LayerMemberInline(admin.TabularInline):
    model = LayerMember
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Schedule)
class ScheduleAdmin(AuditedAdmin):
    list_display = ["name", "team", "time_zone"]
    list_filter = ["team"]


@admin.register(Layer)
class LayerAdmin(admin.ModelAdmin):
    """Read-only here: the schedule editor validates rotations (members, DST) as a whole."""

    list_display = ["name", "schedule", "cadence", "interval", "handoff_weekday", "handoff_time"]
    inlines = [LayerMemberInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Override)
class OverrideAdmin(AuditedAdmin):
    list_display = ["layer", "user", "replaces", "start", "end", "created_by"]
    autocomplete_fields = ["user", "replaces"]


@admin.register(SwapRequest)
class SwapRequestAdmin(admin.ModelAdmin):
    list_display = ["layer", "requester", "recipient", "start", "end", "status"]
    list_filter = ["status"]


class EscalationStepInline(admin.TabularInline):
    model = EscalationStep
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(AuditedAdmin):
    list_display = ["team", "name", "repeat"]
    inlines = [EscalationStepInline]


@admin.register(HandoffNote)
class HandoffNoteAdmin(admin.ModelAdmin):
    list_display = ["layer", "author", "handoff_at"]


@admin.register(CalendarToken)
class CalendarTokenAdmin(admin.ModelAdmin):
    list_display = ["schedule", "user", "prefix", "created_at", "revoked_at"]
    exclude = ["token_hash"]
    readonly_fields = ["schedule", "user", "prefix", "created_by", "created_at", "revoked_at"]
