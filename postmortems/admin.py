from django.contrib import admin

from postmortems.models import ActionItem, Approval, DigestSent, Postmortem, ReviewThread, Section


class SectionInline(admin.StackedInline):
    model = Section
    extra = 0
    readonly_fields = ["version", "updated_at", "updated_by"]


@admin.register(Postmortem)
class PostmortemAdmin(admin.ModelAdmin):
    list_display = ["title", "incident", "revision", "status", "due_at", "published_at"]
    list_filter = ["status"]
    search_fields = ["title", "search_text"]
    raw_id_fields = ["incident", "previous", "prepared_by", "published_by"]
    filter_horizontal = ["reviewers"]
    inlines = [SectionInline]


@admin.register(ActionItem)
class ActionItemAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "team", "priority", "status", "due_date"]
    list_filter = ["priority", "status", "team"]
    search_fields = ["title"]
    raw_id_fields = ["incident", "postmortem", "owner", "created_by"]


@admin.register(Approval)
class ApprovalAdmin(admin.ModelAdmin):
    list_display = ["postmortem", "approver", "approved_at"]


@admin.register(ReviewThread)
class ReviewThreadAdmin(admin.ModelAdmin):
    list_display = ["postmortem", "section_key", "created_by", "resolved_at"]


@admin.register(DigestSent)
class DigestSentAdmin(admin.ModelAdmin):
    list_display = ["recipient", "sent_on", "sent_at"]
