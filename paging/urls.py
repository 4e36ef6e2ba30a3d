from django.urls import path

from paging import views

urlpatterns = [
    path("ack/<str:token>/", views.ack_link, name="paging_ack_link"),
    path("voice/<str:token>/", views.voice_ack, name="paging_voice_ack"),
    path("notifications/", views.notification_list, name="paging_notifications"),
    path("notifications/read/", views.notification_read_all, name="paging_notifications_read"),
    path("bell/", views.bell, name="paging_bell"),
    path("bell/stream", views.bell_stream, name="paging_bell_stream"),
]
