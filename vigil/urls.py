from django.contrib import admin
from django.urls import include, path, re_path

from accounts import views as accounts_views
from alerts import views as alerts_views
from checks import views as checks_views
from common import live
from vigil import views
from vigil.api import api

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("health", checks_views.health, name="health"),
    path("live/", live.stream_view, name="live_stream"),
    path("checks/", include("checks.urls")),
    path("jobstores/", include("jobstores.urls")),
    path("changes/", include("changes.urls")),
    path("status/", include("status.urls")),
    path("reports/", include("reports.urls")),
    path("login/", accounts_views.LoginView.as_view(), name="login"),
    path("logout/", accounts_views.LogoutView.as_view(), name="logout"),
    path("profile/", accounts_views.profile, name="profile"),
    path("profile/", include("accounts.urls")),
    path("incidents/", include("incidents.urls")),
    path("oncall/", include("oncall.urls")),
    path("runbooks/", include("runbooks.urls")),
    path("postmortems/", include("postmortems.urls")),
    path("alerts/", include("alerts.urls")),
    path("paging/", include("paging.urls")),
    path("metrics", alerts_views.metrics_view, name="metrics"),
    path("api/v1/", api.urls),
    re_path(r"^api/", views.api_not_found),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Vigil administration"
admin.site.site_title = "Vigil"
