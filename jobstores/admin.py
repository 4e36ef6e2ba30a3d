from django.contrib import admin

from common.admin import ReadOnlyAdmin
from jobstores.models import FlagChange, ScanRun


@admin.register(ScanRun)
class ScanRunAdmin(ReadOnlyAdmin):
    list_display = ["store", "status", "trigger", "started_at", "keys_scanned", "stale_count"]
    list_filter = ["status", "trigger"]


@admin.register(FlagChange)
class FlagChangeAdmin(ReadOnlyAdmin):
    list_display = ["store", "key", "before", "after", "at", "by"]
