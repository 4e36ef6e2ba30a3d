from django.urls import path

from oncall import views

urlpatterns = [
    path("", views.oncall_now, name="oncall_now"),
    path("mine/", views.my_shifts, name="oncall_mine"),
    path("mine/calendar-feed/", views.my_feed_token, name="oncall_my_feed"),
    path("mine/contact/", views.contact_methods, name="oncall_contacts"),
    path("teams/<slug:slug>/escalation/", views.escalation_policy, name="oncall_escalation"),
    path("teams/<slug:slug>/settings/", views.team_settings, name="oncall_team_settings"),
    path("schedules/", views.schedule_list, name="oncall_schedules"),
    path("schedules/new/", views.schedule_edit, name="oncall_schedule_new"),
    path("schedules/<int:pk>/", views.schedule_calendar, name="oncall_schedule"),
    path("schedules/<int:pk>/edit/", views.schedule_edit, name="oncall_schedule_edit"),
    path("schedules/<int:pk>/fairness/", views.fairness, name="oncall_fairness"),
    path(
        "schedules/<int:pk>/calendar-feed/",
        views.schedule_feed_token,
        name="oncall_schedule_feed",
    ),
    path("layers/<int:pk>/cover/", views.layer_cover, name="oncall_cover"),
    path("layers/<int:pk>/handoff-note/", views.handoff_note, name="oncall_handoff_note"),
    path("overrides/<int:pk>/delete/", views.override_delete, name="oncall_override_delete"),
    path("swaps/<int:pk>/<str:decision>/", views.swap_decide, name="oncall_swap_decide"),
    path("reminders/<int:pk>/tick/", views.checklist_tick, name="oncall_checklist_tick"),
    path("feeds/<str:token>.ics", views.calendar_feed, name="oncall_feed"),
]
