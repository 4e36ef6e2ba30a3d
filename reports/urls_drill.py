from django.urls import path

from reports import drill_views

urlpatterns = [
    path("teams/<slug:slug>/drills/", drill_views.drill_log, name="drill_log"),
    path("teams/<slug:slug>/drills/start/", drill_views.drill_start, name="drill_start"),
    path("teams/<slug:slug>/drills/schedule/", drill_views.drill_schedule, name="drill_schedule"),
    path(
        "teams/<slug:slug>/drills/scenarios/",
        drill_views.drill_scenario_add,
        name="drill_scenario_add",
    ),
    path("teams/<slug:slug>/drills/take-part/", drill_views.drill_opt_in, name="drill_opt_in"),
    path("teams/<slug:slug>/drills/stop/", drill_views.drill_opt_out, name="drill_opt_out"),
    path("drills/<int:pk>/", drill_views.drill_detail, name="drill_detail"),
    path("drills/<int:pk>/end/", drill_views.drill_end, name="drill_end"),
]
