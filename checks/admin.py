from django.contrib import admin

from checks.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "at", "worker"]
    readonly_fields = ["name", "at", "worker"]

    def has_add_permission(self, request):
        return False
