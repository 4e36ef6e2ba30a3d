from django.contrib import admin

from alerts.models import AlertGroup, Integration, RoutingRule, Silence, TeamRouting
from vigil.outbound import validate_outbound_url


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "kind", "maintenance_until"]
    exclude = ["token_hash", "previous_token_hash"]


@admin.register(AlertGroup)
class AlertGroupAdmin(admin.ModelAdmin):
    list_display = ["title", "team", "status", "decision", "opened_at", "resolved_at"]
    list_filter = ["status", "decision"]


@admin.register(TeamRouting)
class TeamRoutingAdmin(admin.ModelAdmin):
    list_display = ["team", "business_start", "business_end", "reopen_window_minutes"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name.endswith("_webhook_url"):
            # The routing page's check: https and public addresses only (vigil/outbound.py).
            field.validators.append(validate_outbound_url)
        return field


admin.site.register(RoutingRule)
admin.site.register(Silence)
