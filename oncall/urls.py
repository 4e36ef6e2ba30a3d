from django.urls import path

from oncall import views

urlpatterns = [
    path("", views.oncall_now, name="oncall_now"),
]
