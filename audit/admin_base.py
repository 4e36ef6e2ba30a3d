"""Admin changes write the audit trail too (the admin wraps each save in a transaction)."""

from django.contrib import admin
from django.forms.models import model_to_dict

from audit.services import audit_record

# Never copied into the audit trail.
SECRET_FIELDS = {"password", "token_hash", "token", "secret"}


def _snapshot(obj):
    return {k: str(v) for k, v in model_to_dict(obj).items() if k not in SECRET_FIELDS}


class AuditedAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        before = _snapshot(type(obj).objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action=f"admin.{'change' if change else 'add'}",
            obj=obj,
            before=before,
            after=_snapshot(obj),
        )

    def delete_model(self, request, obj):
        audit_record(actor=request.user, action="admin.delete", obj=obj, before=_snapshot(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            audit_record(actor=request.user, action="admin.delete", obj=obj, before=_snapshot(obj))
        super().delete_queryset(request, queryset)
