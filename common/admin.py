from django.contrib import admin

from common.models import OutboxTask


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records only Vigil writes (the audit trail, timelines, the outbox): shown, never
    added, changed or deleted in the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxTask)
class OutboxTaskAdmin(ReadOnlyAdmin):
    """Tasks the broker has not taken yet; a row with many attempts means it is still down.
    Read-only: the outbox flush publishes them, nobody edits them by hand."""

    list_display = ["name", "created_at", "attempts", "last_attempt_at", "last_error"]
    list_filter = ["name"]
    readonly_fields = [f.name for f in OutboxTask._meta.fields]
