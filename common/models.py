from django.db import models
from django.utils import timezone


class OutboxTask(models.Model):
    """A task written in the transaction that asked for it and published after its commit.

    The row is deleted once the broker has the message; while the broker is down it stays,
    and the outbox flush publishes it again (see common.enqueue)."""

    name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["created_at"], name="outbox_task_created")]

    def __str__(self):
        return f"{self.name} (queued {self.created_at:%Y-%m-%d %H:%M:%S})"
