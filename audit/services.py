"""Writing the audit trail. Call inside the transaction of the change being recorded."""

import structlog
from django.db import transaction

from audit.models import AuditEntry


def audit_record(*, actor, action: str, obj, before=None, after=None) -> AuditEntry:
    if not transaction.get_connection().in_atomic_block:
        # An audit row outside the change's transaction could survive a rolled-back change.
        raise RuntimeError("audit_record must run inside the change's transaction")
    request_id = structlog.contextvars.get_contextvars().get("request_id", "")
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        before=before,
        after=after,
        request_id=request_id,
    )
