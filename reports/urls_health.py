from django.urls import path

from reports import health_views

urlpatterns = [
    path("teams/<slug:slug>/health/", health_views.health_page, name="oncall_health"),
]
