from django.urls import include, path

from reports import views

urlpatterns = [
    path("", views.index, name="reports"),
    path("", include("reports.urls_response")),
    path("", include("reports.urls_health")),
    path("", include("reports.urls_drill")),
]
