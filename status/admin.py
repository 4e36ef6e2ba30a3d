from django.contrib import admin

from audit.admin_base import AuditedAdmin
from status.models import Component, ComponentGroup, Maintenance, StatusPage


class ComponentInline(admin.TabularInline):
    model = Component
    extra = 0
    fields = ["name", "group", "description", "position"]


class GroupInline(admin.TabularInline):
    model = ComponentGroup
    extra = 0
    fields = ["name", "position"]


@admin.register(StatusPage)
class StatusPageAdmin(AuditedAdmin):
    list_display = ["title", "slug", "team", "is_default"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [GroupInline, ComponentInline]

    def save_model(self, request, obj, form, change):
        if obj.is_default:
            StatusPage.objects.filter(is_default=True).exclude(pk=obj.pk).update(is_default=False)
        super().save_model(request, obj, form, change)


@admin.register(Maintenance)
class MaintenanceAdmin(AuditedAdmin):
    list_display = ["name", "page", "starts_at", "ends_at", "cancelled_at"]
    list_filter = ["page"]
    filter_horizontal = ["components"]
