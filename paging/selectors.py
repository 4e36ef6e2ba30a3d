from django.db.models import Prefetch

from paging.models import DeliveryAttempt, Escalation, Notification


def delivery_log_for(*, incident) -> dict:
    """The incident's escalation and every notification with its attempts (fixed queries)."""
    escalation = (
        Escalation.objects.filter(incident=incident).select_related("acknowledged_by").first()
    )
    notifications = list(
        Notification.objects.filter(incident=incident)
        .select_related("user")
        .prefetch_related(
            Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.order_by("started_at"))
        )
        .order_by("created_at", "id")[:200]
    )
    return {"escalation": escalation, "notifications": notifications}
