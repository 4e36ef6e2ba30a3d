from django.urls import path  # noqa: F401 (the apps add their pages here)

urlpatterns: list = []
