from django.urls import path

from runbooks import views

urlpatterns = [
    path("", views.runbook_list, name="runbooks"),
    path("new/", views.runbook_create, name="runbook_create"),
    path("incidents/<int:incident_id>/", views.incident_runbooks, name="incident_runbooks"),
    path(
        "incidents/<int:incident_id>/<slug:slug>/steps/<slug:step_key>/tick/",
        views.step_tick,
        name="runbook_step_tick",
    ),
    path("<slug:slug>/", views.runbook_detail, name="runbook_detail"),
    path("<slug:slug>/edit/", views.runbook_edit, name="runbook_edit"),
    path("<slug:slug>/reviewed/", views.runbook_mark_reviewed, name="runbook_mark_reviewed"),
    path("<slug:slug>/revisions/", views.runbook_history, name="runbook_history"),
    path("<slug:slug>/revisions/diff/", views.runbook_diff, name="runbook_diff"),
    path("<slug:slug>/revisions/<int:number>/", views.runbook_revision, name="runbook_revision"),
    path(
        "<slug:slug>/revisions/<int:number>/restore/",
        views.runbook_restore,
        name="runbook_restore",
    ),
]
