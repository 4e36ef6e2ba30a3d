from django.urls import path

from accounts import views

urlpatterns = [
    path("tokens/", views.api_token_new, name="api_token_create"),
    path("tokens/<int:pk>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
]
