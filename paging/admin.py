from django.contrib import admin

from paging.models import Escalation, Notification, Page


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ["incident", "status", "next_action_at", "steps_run", "time_to_acknowledge"]
    list_filter = ["status"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["key", "channel", "purpose", "state", "attempts", "created_at"]
    list_filter = ["channel", "state"]


admin.site.register(Page)
