from django import forms
from django.contrib import admin
from django.db import transaction
from django.utils import timezone

from audit.admin_base import AuditedAdmin
from audit.services import audit_record
from common.outbound import OutboundRefused, check_url
from status.maintenance import maintenance_silences_sync
from status.models import (
    Component,
    ComponentGroup,
    Maintenance,
    StatusPage,
    Subscriber,
    SubscriberKind,
)
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


class WebhookSubscriberForm(forms.ModelForm):
    """The admin adds webhook subscribers only (email subscribers confirm themselves), with
    the URL checked as the public form would."""

    class Meta:
        model = Subscriber
        fields = ["page", "address", "components"]
        labels = {"address": "Webhook URL (https, a public address)"}

    def clean(self):
        data = super().clean()
        page, url = data.get("page"), data.get("address")
        if page and url:
            try:
                check_url(url)
            except OutboundRefused as exc:
                raise forms.ValidationError({"address": str(exc)}) from None
            chosen = data.get("components") or []
            strays = [c.name for c in chosen if c.page_id != page.pk]
            if strays:
                raise forms.ValidationError(
                    {"components": f"Not components of {page}: {', '.join(strays)}."}
                )
        return data


@admin.register(Subscriber)
class SubscriberAdmin(AuditedAdmin):
    list_display = ["page", "kind", "masked_address", "confirmed_at", "unsubscribed_at"]
    list_filter = ["page", "kind"]
    actions = ["unsubscribe"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = WebhookSubscriberForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # An existing subscriber's address and consent are theirs, not the admin's.
        return ["page", "kind", "address", "created_at", "confirmed_at"] if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["page", "address", "components"]
        return ["page", "kind", "address", "components", "created_at", "confirmed_at",
                "unsubscribed_at"]  # fmt: skip

    def save_model(self, request, obj, form, change):
        if not change:
            obj.kind = SubscriberKind.WEBHOOK
            obj.confirmed_at = timezone.now()  # a URL has no inbox to confirm from
        super().save_model(request, obj, form, change)

    @admin.display(description="Address")
    def masked_address(self, obj):
        if obj.kind == SubscriberKind.WEBHOOK:
            return obj.address.split("/")[2] if "//" in obj.address else obj.address[:20]
        name, _, domain = obj.address.partition("@")
        return f"{name[:1]}…@{domain}"

    @admin.action(description="Unsubscribe the chosen subscribers")
    def unsubscribe(self, request, queryset):
        with transaction.atomic():
            for subscriber in queryset.filter(unsubscribed_at__isnull=True):
                subscriber.unsubscribed_at = timezone.now()
                subscriber.save(update_fields=["unsubscribed_at"])
                audit_record(actor=request.user, action="status.unsubscribe", obj=subscriber)
