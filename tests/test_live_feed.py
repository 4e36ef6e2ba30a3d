"""The viewers of one incident in a web process share its reads and its renderings.

With many viewers woken by one notification, the feed reads the new events once; each event
is rendered once per rendering context (time zone, may change, wrote it), and each viewer's
copy carries its own CSRF token.
"""

import asyncio
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from bench.sse_pool_bench import run
from common import live
from incidents import live as incident_live
from incidents import services
from incidents.models import TimelineEvent
from teams.models import Role
from tests.factories import TeamFactory, member


class FakeHub:
    """The hub's side of a feed: which notification it is at, and the feeds it holds."""

    def __init__(self):
        self.generations = {}
        self.feeds = {}

    def generation(self, topic):
        return self.generations.get(topic, 0)

    def dispatch(self, topic):
        self.generations[topic] = self.generation(topic) + 1

    def feed(self, topic, **kwargs):
        if topic not in self.feeds:
            self.feeds[topic] = live.Feed(self, topic, **kwargs)
        return self.feeds[topic]


def rows(n, start=1):
    return [SimpleNamespace(seq=s, pk=s) for s in range(start, start + n)]


def test_fifty_viewers_woken_together_cost_one_read():
    hub = FakeHub()
    table = rows(3)
    reads = []

    def read(*, after):
        reads.append(after)
        return [r for r in table if r.seq > after]

    feed = hub.feed(
        "incident:1", read=read, position=lambda r: r.seq, key=lambda r: r.pk, limit=100
    )

    async def viewers(position, count):
        return await asyncio.gather(*(feed.since(position) for _ in range(count)))

    async def scenario():
        first = await viewers(1, 50)  # the page showed event 1
        assert reads == [1] and all([r.seq for r in got] == [2, 3] for got in first)

        table.extend(rows(2, start=4))  # two events written, one notification
        hub.dispatch("incident:1")
        second = await viewers(3, 50)
        assert reads == [1, 3] and all([r.seq for r in got] == [4, 5] for got in second)
        # Viewers further behind than the feed: one read for them all, and the feed keeps it.
        behind = await viewers(0, 5)
        assert reads == [1, 3, 0] and all(len(got) == 5 for got in behind)
        assert len(await feed.since(0)) == 5 and len(reads) == 3

    run(scenario())


def test_a_changed_event_replaces_its_older_version_and_a_burst_is_read_in_pages():
    hub = FakeHub()
    table = rows(250)
    reads = []

    def read(*, after):
        reads.append(after)
        return [r for r in table if r.seq > after][:100]

    feed = hub.feed(
        "incident:1", read=read, position=lambda r: r.seq, key=lambda r: r.pk, limit=100
    )

    async def scenario():
        nonlocal table
        got = await feed.since(0)
        assert [r.seq for r in got] == list(range(1, 251)) and reads == [0, 100, 200]
        table = [r for r in table if r.pk != 7] + [SimpleNamespace(seq=251, pk=7)]  # 7 edited
        hub.dispatch("incident:1")
        assert [(r.pk, r.seq) for r in await feed.since(250)] == [(7, 251)]
        assert [r.pk for r in await feed.since(0)].count(7) == 1

    run(scenario())


# Committed rows: the reads run in a thread with a loop of its own (a browser test's loop
# may hold this one), on a connection of their own.
@pytest.mark.django_db(transaction=True)
def test_each_event_is_rendered_once_per_rendering_context_with_each_viewers_token(
    monkeypatch,
):
    team = TeamFactory()
    alex = member(team, Role.RESPONDER, username="alex")
    sam = member(team, Role.RESPONDER, username="sam")
    casey = member(team, Role.VIEWER, username="casey")
    tokyo = member(team, Role.VIEWER, username="kenji")
    tokyo.time_zone = "Asia/Tokyo"
    incident = services.incident_declare(
        title="Checkout errors", severity=_sev2(), team=team, by=alex
    )
    since = incident.timeline_seq
    services.timeline_note_add(incident=incident, body="rolled back 4.2", author=alex)
    hub = FakeHub()
    monkeypatch.setattr(live, "hub", lambda: hub)
    renders = []
    real_render = incident_live.TimelineChannel._render

    def counting_render(self, event, mine):
        renders.append((self.time_zone, self.can_change, mine))
        return real_render(self, event, mine)

    monkeypatch.setattr(incident_live.TimelineChannel, "_render", counting_render)

    def channel(user, can_change, token):
        return incident_live.TimelineChannel(
            incident=incident, user=user, can_change=can_change, csrf_token=token, after=since
        )

    viewers = [channel(alex, True, "token-alex")]  # wrote it: may edit
    viewers += [channel(sam, True, f"token-sam-{i}") for i in range(10)]  # may pin
    viewers += [channel(casey, False, "") for _ in range(10)]  # reads only
    viewers += [channel(tokyo, False, "")]  # reads only, in Tokyo
    topic = incident_live.topic(incident.pk)

    async def read_all():
        return [await v.read({topic}) for v in viewers]

    texts = run(read_all())
    assert sorted(renders) == sorted(
        [("UTC", True, True), ("UTC", True, False), ("UTC", False, False)]
        + [("Asia/Tokyo", False, False)]
    )
    assert len(hub.feeds[topic].__dict__["_rows"]) == 1
    assert "Edit" in texts[0] and "token-alex" in texts[0]
    assert "Edit" not in texts[1] and "token-sam-0" in texts[1] and "token-sam-1" in texts[2]
    assert "Pin as key event" not in texts[11] and incident_live.CSRF_SLOT not in "".join(texts)
    note = TimelineEvent.objects.get(incident=incident, body="rolled back 4.2")
    local = note.occurred_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{local.hour:02d}:{local.minute:02d}</time>" in texts[-1]


def _sev2():
    from incidents.models import Severity

    return Severity.objects.get(name="SEV2")
