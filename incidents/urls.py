from django.urls import path

from incidents import views

urlpatterns = [
    path("", views.incident_list, name="incident_list"),
    path("declare/", views.incident_declare, name="incident_declare"),
    path("<int:pk>/", views.incident_detail, name="incident_detail"),
    path("<int:pk>/status", views.incident_status, name="incident_status"),
    path("<int:pk>/severity", views.incident_severity, name="incident_severity"),
    path("<int:pk>/roles", views.incident_role, name="incident_role"),
    path("<int:pk>/impact", views.incident_impact, name="incident_impact"),
    path("<int:pk>/notes", views.note_add, name="incident_note_add"),
    path("<int:pk>/status-updates", views.status_update_add, name="incident_status_update"),
    path("<int:pk>/timeline.md", views.timeline_markdown, name="incident_timeline_md"),
    path("<int:pk>/events/stream", views.timeline_stream, name="incident_event_stream"),
    path("<int:pk>/events/<int:event_pk>/", views.event_detail, name="incident_event"),
    path("<int:pk>/events/<int:event_pk>/edit", views.note_edit, name="incident_note_edit"),
    path("<int:pk>/events/<int:event_pk>/pin", views.event_pin, name="incident_event_pin"),
    path("<int:pk>/events/<int:event_pk>/delete", views.note_delete, name="incident_note_delete"),
    path("<int:pk>/checklist/<int:item_pk>", views.checklist_tick, name="incident_checklist_tick"),
]
