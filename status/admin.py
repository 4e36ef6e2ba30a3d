from django.contrib import admin
from django.db import transaction

from audit.admin_base import AuditedAdmin
from status.maintenance import maintenance_silences_sync
from status.models import Component, ComponentGroup, Maintenance, StatusPage
from status.subscribers import notices_for_maintenance


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
    exclude = ["silences", "created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The components are saved now: silence their alerts for the window, and tell the
        # subscribers of a new one.
        maintenance_silences_sync(maintenance=form.instance, by=request.user)
        if not change:
            pk = form.instance.pk
            transaction.on_commit(lambda: notices_for_maintenance(pk), robust=True)
