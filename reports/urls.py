from django.urls import include, path

urlpatterns = [
    path("", include("reports.urls_response")),
    path("", include("reports.urls_health")),
    path("", include("reports.urls_drill")),
]
