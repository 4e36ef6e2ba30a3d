from django.contrib import admin

from checks.models import Check, CheckResult, Heartbeat
from common.admin import ReadOnlyAdmin


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "at", "worker"]
    readonly_fields = ["name", "at", "worker"]

    def has_add_permission(self, request):
        return False


@admin.register(Check)
class CheckAdmin(ReadOnlyAdmin):
    """Checks are set up on their pages (the target's password is never shown back); here
    they are only looked at, the target redacted."""

    list_display = ["name", "team", "kind", "redacted_target", "state", "last_run_at", "enabled"]
    list_filter = ["kind", "state", "enabled"]
    exclude = ["target"]
    readonly_fields = ["redacted_target"]


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdmin):
    list_display = ["dependency_check", "at", "ok", "latency_ms", "detail"]
    list_filter = ["ok"]
    list_select_related = ["dependency_check"]
