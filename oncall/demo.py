from oncall.models import Membership, Team


def seed(*, users) -> Team:
    team, _ = Team.objects.get_or_create(
        slug="platform",
        defaults={"name": "Platform", "time_zone": "Europe/Berlin"},
    )
    team.engineering_lead = users["sam"]
    team.save(update_fields=["engineering_lead"])
    for user in users.values():
        Membership.objects.update_or_create(team=team, user=user, defaults={"role": user.demo_role})
    return team
