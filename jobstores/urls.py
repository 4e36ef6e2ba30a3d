from django.urls import path

from jobstores import views

urlpatterns = [
    path("", views.store_list, name="jobstores"),
]
