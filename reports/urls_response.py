from django.urls import path

from reports import response_views

urlpatterns = [
    path(
        "teams/<slug:slug>/response/",
        response_views.response_page,
        name="reports_response",
    ),
]
