from django.contrib import admin

from audit.admin_base import AuditedAdmin
from common.outbound import validate_outbound_url
from teams.models import Membership, Team, TeamRouting


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ["name", "slug", "time_zone", "engineering_lead"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["team", "user", "role"]
    list_filter = ["team", "role"]
    autocomplete_fields = ["user", "team"]


@admin.register(TeamRouting)
class TeamRoutingAdmin(admin.ModelAdmin):
    list_display = ["team", "business_start", "business_end", "reopen_window_minutes"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name.endswith("_webhook_url"):
            # The routing page's check: https and public addresses only (common/outbound.py).
            field.validators.append(validate_outbound_url)
        return field
