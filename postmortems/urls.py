from django.urls import path

from postmortems import views

urlpatterns = [
    path("", views.library, name="postmortems"),
    path("queue/", views.queue, name="postmortem_queue"),
    path("action-items/", views.action_items, name="action_item_list"),
    path("action-items/<int:pk>/status/", views.action_item_status, name="action_item_status"),
    path("from-incident/<int:incident_pk>/", views.generate, name="postmortem_generate"),
    path("<int:pk>/", views.detail, name="postmortem_detail"),
    path("<int:pk>/sections/<str:key>/", views.section_save, name="postmortem_section_save"),
    path(
        "<int:pk>/sections/<str:key>/preview/",
        views.section_preview,
        name="postmortem_section_preview",
    ),
    path("<int:pk>/timeline/", views.timeline_refill, name="postmortem_timeline_refill"),
    path("<int:pk>/submit/", views.submit, name="postmortem_submit"),
    path("<int:pk>/approve/", views.approve, name="postmortem_approve"),
    path("<int:pk>/request-changes/", views.request_changes, name="postmortem_request_changes"),
    path("<int:pk>/publish/", views.publish, name="postmortem_publish"),
    path("<int:pk>/revision/", views.open_revision, name="postmortem_open_revision"),
    path("<int:pk>/comments/", views.thread_start, name="postmortem_thread_start"),
    path("threads/<int:pk>/reply/", views.thread_reply, name="postmortem_thread_reply"),
    path("threads/<int:pk>/resolve/", views.thread_resolve, name="postmortem_thread_resolve"),
    path("<int:pk>/action-items/", views.action_item_add, name="postmortem_action_item_add"),
    path("<int:pk>/export.md", views.export_markdown, name="postmortem_export"),
    path("<int:pk>/print/", views.print_view, name="postmortem_print"),
]
