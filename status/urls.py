from django.urls import path

from status import api_v2, public_views, stakeholder_views, subscriber_views, views

# The public pages come first; /status/ serves the default page, /status/p/<slug>/ any page.
urlpatterns = [
    path("", public_views.page, name="status_page"),
    path("history/", public_views.history, name="status_history"),
    path("incidents/<int:pk>/", public_views.incident, name="status_incident"),
    path("feed.atom", public_views.atom_feed, name="status_atom"),
    path("feed.rss", public_views.rss_feed, name="status_rss"),
    path("badge/<int:component_id>.svg", public_views.badge, name="status_badge"),
    path("api/v2/summary.json", api_v2.summary, name="status_api_summary"),
    path("api/v2/status.json", api_v2.status, name="status_api_status"),
    path("api/v2/components.json", api_v2.components, name="status_api_components"),
    path("api/v2/incidents.json", api_v2.incidents, name="status_api_incidents"),
    path(
        "api/v2/incidents/unresolved.json",
        api_v2.incidents_unresolved,
        name="status_api_incidents_unresolved",
    ),
    path(
        "api/v2/scheduled-maintenances.json",
        api_v2.scheduled_maintenances,
        name="status_api_maintenances",
    ),
    path("p/<slug:slug>/", public_views.page, name="status_page_named"),
    path("p/<slug:slug>/history/", public_views.history, name="status_history_named"),
    path("p/<slug:slug>/incidents/<int:pk>/", public_views.incident, name="status_incident_named"),
    path("p/<slug:slug>/feed.atom", public_views.atom_feed, name="status_atom_named"),
    path("p/<slug:slug>/feed.rss", public_views.rss_feed, name="status_rss_named"),
    path(
        "p/<slug:slug>/badge/<int:component_id>.svg",
        public_views.badge,
        name="status_badge_named",
    ),
    path("p/<slug:slug>/api/v2/summary.json", api_v2.summary, name="status_api_summary_named"),
    path("p/<slug:slug>/api/v2/status.json", api_v2.status, name="status_api_status_named"),
    path(
        "p/<slug:slug>/api/v2/components.json",
        api_v2.components,
        name="status_api_components_named",
    ),
    path(
        "p/<slug:slug>/api/v2/incidents.json", api_v2.incidents, name="status_api_incidents_named"
    ),
    path(
        "p/<slug:slug>/api/v2/incidents/unresolved.json",
        api_v2.incidents_unresolved,
        name="status_api_incidents_unresolved_named",
    ),
    path(
        "p/<slug:slug>/api/v2/scheduled-maintenances.json",
        api_v2.scheduled_maintenances,
        name="status_api_maintenances_named",
    ),
    # For the team (signed in): post an update from a template, edit the templates.
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
    # Subscribers (public, no login): subscribe, confirm by mail, one-click unsubscribe.
    path("subscribe/", subscriber_views.subscribe, name="status_subscribe"),
    path("confirm/<str:token>/", subscriber_views.confirm, name="status_confirm"),
    path("unsubscribe/<str:token>/", subscriber_views.unsubscribe, name="status_unsubscribe"),
    path("p/<slug:slug>/subscribe/", subscriber_views.subscribe, name="status_subscribe_named"),
    path(
        "p/<slug:slug>/confirm/<str:token>/", subscriber_views.confirm, name="status_confirm_named"
    ),
    path(
        "p/<slug:slug>/unsubscribe/<str:token>/",
        subscriber_views.unsubscribe,
        name="status_unsubscribe_named",
    ),
]
