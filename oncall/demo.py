"""Demo data: the seed document's on-call set-up for the platform team.

A weekly primary/secondary rotation of alex, jordan and riley (handoff Monday 09:00
Europe/Berlin), sam as engineering lead, the default escalation policy (primary, secondary
after 5 minutes, lead after 15), contact methods, and one override. Idempotent.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone

from oncall.models import ContactMethod, Override, Schedule
from oncall.selectors import PRIMARY, SECONDARY, layer_oncall_at
from oncall.services import LayerData, escalation_policy_default, override_create, schedule_save
from teams.models import Membership, Team

SCHEDULE_NAME = "Platform on-call"
ROTATION_START = dt.date(2026, 1, 5)  # a Monday
DEMO_OVERRIDE_PREFIX = "Demo: "  # the reason names the two people; seeding again finds it by this


def seed(*, users) -> Team:
    team, _ = Team.objects.get_or_create(
        slug="platform",
        defaults={"name": "Platform", "time_zone": "Europe/Berlin"},
    )
    team.engineering_lead = users["sam"]
    team.save(update_fields=["engineering_lead"])
    for user in users.values():
        Membership.objects.update_or_create(team=team, user=user, defaults={"role": user.demo_role})
    for name in ("alex", "jordan", "riley", "sam"):
        user = users[name]
        ContactMethod.objects.get_or_create(
            user=user,
            kind=ContactMethod.Kind.EMAIL,
            defaults={"value": user.email, "label": "Work"},
        )
    ContactMethod.objects.get_or_create(
        user=users["sam"], kind=ContactMethod.Kind.PHONE, defaults={"value": "+44 20 7946 0958"}
    )

    schedule = Schedule.objects.filter(team=team, name=SCHEDULE_NAME).first()
    if schedule is None:
        rotation = [users["alex"], users["jordan"], users["riley"]]
        schedule = schedule_save(
            team=team,
            name=SCHEDULE_NAME,
            time_zone="Europe/Berlin",
            layers=[
                LayerData(name=PRIMARY, members=rotation, start_date=ROTATION_START),
                LayerData(
                    name=SECONDARY,
                    members=rotation[1:] + rotation[:1],
                    start_date=ROTATION_START,
                ),
            ],
            by=None,
        )
    escalation_policy_default(team=team)

    primary = schedule.layers.get(name=PRIMARY)
    if not Override.objects.filter(layer=primary, reason__startswith=DEMO_OVERRIDE_PREFIX).exists():
        tz = ZoneInfo(schedule.time_zone)
        today = timezone.now().astimezone(tz).date()
        day = today + dt.timedelta(days=(2 - today.weekday()) % 7 or 7)  # next Wednesday
        start = dt.datetime.combine(day, dt.time(9)).replace(tzinfo=tz)
        # Whoever the rotation puts on that day is away; a colleague covers their shift.
        away = layer_oncall_at(layer=primary, at=start)
        away = away[0] if away else users["alex"]
        cover = next(u for u in (users["riley"], users["jordan"], users["alex"]) if u != away)
        override_create(
            layer=primary,
            user=cover,
            replaces=away,
            start=start,
            end=start + dt.timedelta(days=1),
            reason=(
                f"{DEMO_OVERRIDE_PREFIX}{away.first_name} is at a conference; "
                f"{cover.first_name} covers the day"
            ),
            by=None,
        )
    return team
