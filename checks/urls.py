from django.urls import path

from checks import views

urlpatterns = [
    path("", views.checks_index, name="checks"),
    path("new/", views.check_new, name="check_new"),
    path("<int:pk>/", views.check_detail, name="check_detail"),
    path("<int:pk>/edit/", views.check_edit, name="check_edit"),
    path("<int:pk>/delete/", views.check_delete, name="check_delete"),
    path("<int:pk>/run/", views.check_run, name="check_run"),
]
