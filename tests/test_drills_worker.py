"""A drill end to end with a real Celery worker: the synthetic alert opens a drill incident,
beat's escalation tick pages the person taking part, and every message a local fake Slack
receives (the person's own and the team's #incidents channel) is marked as a drill."""

import pytest

from oncall.models import ContactMethod
from paging.models import Notification
from reports import drills
from reports.models import DrillScenario
from teams.models import Role
from teams.selectors import team_routing
from tests.celery_worker import running_worker, wait_for
from tests.factories import member
from tests.paging_fakes import FakeHTTP, worker_env

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.slow,
]

HTTP_PORT = 18745


def test_a_drill_runs_through_the_worker_and_every_slack_message_says_drill(team):
    manager = member(team, Role.MANAGER, username="maya")
    taking_part = member(team, Role.RESPONDER, username="rita")
    bystander = member(team, Role.RESPONDER, username="bob")
    with FakeHTTP(HTTP_PORT) as slack:
        routing = team_routing(team)
        routing.incidents_webhook_url = slack.url("/slack-incidents")
        routing.save(update_fields=["incidents_webhook_url"])
        ContactMethod.objects.create(user=taking_part, kind="slack", value=slack.url("/rita"))
        ContactMethod.objects.create(user=bystander, kind="slack", value=slack.url("/bob"))
        drills.opt_in(team=team, user=taking_part)
        scenario = DrillScenario.objects.get(team=None, slug=drills.THREE_AM_SLUG)

        drill = drills.drill_start(team=team, scenario=scenario, by=manager)
        assert drill.incident.is_drill

        with running_worker(beat=True, env=worker_env()):
            reached = wait_for(lambda: slack.accepted_at("/rita"), timeout=40)
            channel = wait_for(lambda: slack.accepted_at("/slack-incidents"), timeout=20)
            wait_for(lambda: False, timeout=2)  # anything more (or duplicated) arrives now
        assert reached, list(Notification.objects.values_list("key", "state", "last_error"))
        assert channel
        assert slack.accepted_at("/bob") == []
        messages = slack.accepted
        assert messages
        for message in messages:
            assert message["json"]["text"].startswith("[DRILL]"), message["json"]["text"]
        # Rita's page is one message, sent once.
        assert len(slack.accepted_at("/rita")) == 1
        assert not Notification.objects.filter(incident=drill.incident, state="failed").exists()
