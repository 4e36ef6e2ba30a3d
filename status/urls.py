from django.urls import path

from status import api_v2, public_views, stakeholder_views, subscriber_views, views

# Every public address once for the default page (/status/...) and once for any page
# (/status/p/<slug>/..., its name ending "_named"). No login on these.
PUBLIC = [
    ("", public_views.page, "status_page"),
    ("history/", public_views.history, "status_history"),
    ("incidents/<int:pk>/", public_views.incident, "status_incident"),
    ("feed.atom", public_views.atom_feed, "status_atom"),
    ("feed.rss", public_views.rss_feed, "status_rss"),
    ("badge/<int:component_id>.svg", public_views.badge, "status_badge"),
    ("api/v2/summary.json", api_v2.summary, "status_api_summary"),
    ("api/v2/status.json", api_v2.status, "status_api_status"),
    ("api/v2/components.json", api_v2.components, "status_api_components"),
    ("api/v2/incidents.json", api_v2.incidents, "status_api_incidents"),
    (
        "api/v2/incidents/unresolved.json",
        api_v2.incidents_unresolved,
        "status_api_incidents_unresolved",
    ),
    (
        "api/v2/scheduled-maintenances.json",
        api_v2.scheduled_maintenances,
        "status_api_maintenances",
    ),
    # Subscribers: subscribe, confirm by mail, one-click unsubscribe.
    ("subscribe/", subscriber_views.subscribe, "status_subscribe"),
    ("confirm/<str:token>/", subscriber_views.confirm, "status_confirm"),
    ("unsubscribe/<str:token>/", subscriber_views.unsubscribe, "status_unsubscribe"),
]

urlpatterns = [
    *(path(route, view, name=name) for route, view, name in PUBLIC),
    *(path(f"p/<slug:slug>/{route}", view, name=f"{name}_named") for route, view, name in PUBLIC),
    # For the team (signed in): post an update from a template, the templates, stakeholders.
    path("incidents/<int:pk>/update/", views.update_post, name="status_update_post"),
    path("teams/<slug:slug>/templates/", views.team_templates, name="status_team_templates"),
    path(
        "teams/<slug:slug>/stakeholders/",
        stakeholder_views.stakeholders,
        name="status_stakeholders",
    ),
    path(
        "teams/<slug:slug>/stakeholders/<str:pk>/remove/",
        stakeholder_views.stakeholder_delete,
        name="status_stakeholders_remove",
    ),
]
