import datetime as dt

import pytest

from oncall.models import EscalationStep, Layer, LayerMember, Override, Schedule
from oncall.selectors import escalation_policy_for, escalation_step_targets, oncall_at
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def make_team_schedule():
    team = TeamFactory(time_zone="Europe/Berlin")
    alex, jordan, riley, sam = (
        member(team, username=n) for n in ("alex", "jordan", "riley", "sam")
    )
    team.engineering_lead = sam
    team.save()
    schedule = Schedule.objects.create(
        team=team, name="Platform on-call", time_zone="Europe/Berlin"
    )
    start = dt.date(2026, 1, 5)  # a Monday
    primary = Layer.objects.create(schedule=schedule, name="Primary", position=0, start_date=start)
    secondary = Layer.objects.create(
        schedule=schedule, name="Secondary", position=1, start_date=start
    )
    for i, u in enumerate((alex, jordan, riley)):
        LayerMember.objects.create(layer=primary, user=u, position=i)
    for i, u in enumerate((jordan, riley, alex)):
        LayerMember.objects.create(layer=secondary, user=u, position=i)
    return team, primary, secondary, (alex, jordan, riley, sam)


def test_it_says_who_is_on_call_per_layer_name():
    team, primary, _, (alex, jordan, riley, _sam) = make_team_schedule()
    # Second week of the rotation: jordan primary, riley secondary.
    at = dt.datetime(2026, 1, 14, 12, tzinfo=UTC)
    assert oncall_at(team=team, at=at) == {"Primary": [jordan], "Secondary": [riley]}


def test_an_override_changes_who_is_on_call():
    team, primary, _, (alex, jordan, riley, sam) = make_team_schedule()
    Override.objects.create(
        layer=primary,
        user=sam,
        start=dt.datetime(2026, 1, 14, tzinfo=UTC),
        end=dt.datetime(2026, 1, 15, tzinfo=UTC),
    )
    at = dt.datetime(2026, 1, 14, 12, tzinfo=UTC)
    assert oncall_at(team=team, at=at)["Primary"] == [sam]
    assert oncall_at(team=team, at=at + dt.timedelta(days=1))["Primary"] == [jordan]


def test_every_team_gets_the_seed_documents_default_escalation_policy():
    team, primary, secondary, (alex, jordan, riley, sam) = make_team_schedule()
    policy = escalation_policy_for(team=team)
    steps = list(policy.steps.all())
    assert [(s.target_kind, s.layer_id, s.wait_minutes) for s in steps] == [
        ("layer", primary.pk, 5),
        ("layer", secondary.pk, 10),
        ("lead", None, 15),
    ]
    assert policy.repeat == 1
    assert escalation_policy_for(team=team).pk == policy.pk
    assert policy.steps.count() == 3
    at = dt.datetime(2026, 1, 6, 12, tzinfo=UTC)
    assert [escalation_step_targets(step=s, at=at) for s in steps] == [[alex], [jordan], [sam]]


def test_the_default_policy_picks_up_layers_created_later():
    team = TeamFactory()
    policy = escalation_policy_for(team=team)
    assert [s.layer_id for s in policy.steps.all()] == [None, None, None]
    step = policy.steps.all()[0]
    assert escalation_step_targets(step=step, at=dt.datetime(2026, 1, 1, tzinfo=UTC)) == []
    schedule = Schedule.objects.create(team=team, name="Main")
    primary = Layer.objects.create(
        schedule=schedule, name="Primary", position=0, start_date=dt.date(2026, 1, 1)
    )
    policy = escalation_policy_for(team=team)
    assert policy.steps.all()[0].layer_id == primary.pk
    assert policy.steps.all()[2].target_kind == EscalationStep.TargetKind.LEAD
