from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """The last time a periodic process proved it was alive (e.g. Celery beat)."""

    name = models.CharField(max_length=64, unique=True)
    at = models.DateTimeField(default=timezone.now)
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
