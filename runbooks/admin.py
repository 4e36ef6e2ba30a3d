from django.contrib import admin

from runbooks.models import Runbook, RunbookRevision, StepCheck


class RevisionInline(admin.TabularInline):
    model = RunbookRevision
    fields = ("number", "title", "message", "author", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(Runbook)
class RunbookAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "team", "owner", "last_reviewed_at", "updated_at")
    list_filter = ("team",)
    search_fields = ("title", "slug", "body")
    readonly_fields = ("created_at", "updated_at")
    inlines = [RevisionInline]


@admin.register(StepCheck)
class StepCheckAdmin(admin.ModelAdmin):
    list_display = ("label", "runbook", "incident", "checked_by", "checked_at")
    list_select_related = ("runbook", "incident", "checked_by")
    readonly_fields = ("incident", "runbook", "step_key", "label", "checked_by", "event")
