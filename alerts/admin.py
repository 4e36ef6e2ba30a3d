from django.contrib import admin

from alerts.models import AlertGroup, Integration, RoutingRule, Silence


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "kind", "maintenance_until"]
    exclude = ["token_hash", "previous_token_hash"]


@admin.register(AlertGroup)
class AlertGroupAdmin(admin.ModelAdmin):
    list_display = ["title", "team", "status", "decision", "opened_at", "resolved_at"]
    list_filter = ["status", "decision"]


admin.site.register(RoutingRule)
admin.site.register(Silence)
