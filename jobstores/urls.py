from django.urls import path

from jobstores import views

urlpatterns = [
    path("", views.store_list, name="jobstores"),
    path("new/", views.store_new, name="jobstore_new"),
    path("<int:pk>/", views.store_detail, name="jobstore_detail"),
    path("<int:pk>/edit/", views.store_edit, name="jobstore_edit"),
    path("<int:pk>/delete/", views.store_delete, name="jobstore_delete"),
    path("<int:pk>/scan/", views.scan_start, name="jobstore_scan"),
    path("<int:pk>/runs/<int:run_pk>/", views.run_detail, name="jobstore_run"),
    path("<int:pk>/kill/", views.kill, name="jobstore_kill"),
    path("<int:pk>/conversation/", views.conversation, name="jobstore_conversation"),
    path("<int:pk>/errors/", views.error_patterns, name="jobstore_errors"),
    path("<int:pk>/flags/disable/", views.flag_disable, name="jobstore_flag_disable"),
]
