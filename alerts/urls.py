from django.urls import path

from alerts import views

urlpatterns = [
    path("", views.group_list, name="alerts_groups"),
    path("groups/<int:pk>/", views.group_detail, name="alerts_group_detail"),
    path("integrations/", views.integration_list, name="alerts_integrations"),
    path("integrations/new/", views.integration_new, name="alerts_integration_new"),
    path(
        "integrations/<int:pk>/rotate/", views.integration_rotate, name="alerts_integration_rotate"
    ),
    path(
        "integrations/<int:pk>/maintenance/",
        views.integration_maintenance,
        name="alerts_integration_maintenance",
    ),
    path("silences/", views.silence_list, name="alerts_silences"),
    path("silences/<int:pk>/end/", views.silence_end, name="alerts_silence_end"),
    path("teams/<slug:slug>/routing/", views.routing_edit, name="alerts_routing"),
    path("webhook/<uuid:public_id>/", views.webhook, name="alerts_webhook"),
    path("webhook/<uuid:public_id>/<str:token>/", views.webhook, name="alerts_webhook_token"),
]
