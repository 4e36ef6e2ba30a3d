from django.urls import path

from changes import metrics_views, views, webhooks

urlpatterns = [
    path("", views.change_list, name="changes_list"),
    path("incidents/<int:pk>/advice/", views.advice, name="changes_advice"),
    path("incidents/<int:pk>/rollback/", views.rollback, name="changes_rollback"),
    path("teams/<slug:slug>/metrics/", metrics_views.team_metrics, name="changes_team_metrics"),
    path("webhook/<uuid:public_id>/", webhooks.webhook, name="changes_webhook"),
    path("webhook/<uuid:public_id>/<str:token>/", webhooks.webhook, name="changes_webhook_token"),
]
