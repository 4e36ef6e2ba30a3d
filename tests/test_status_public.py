"""Vigil's public status page as anyone on the internet reads it: the page, its history, one
incident, the feeds and the badges. Only public updates of incidents that are not private,
under their public names, ever appear; anything else is a plain 404."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from incidents.models import Severity
from incidents.services import incident_declare
from status.models import Component, ComponentGroup, Maintenance, StatusPage
from status.services import StatusError, status_update_post
from teams.models import Role
from tests.factories import member

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
HUGE = "99999999999999999999"
LONG_AGO = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def responder(team):
    return member(team, Role.RESPONDER, username="rita")


@pytest.fixture
def status_page(team):
    return StatusPage.objects.create(
        slug="acme", title="Acme", team=team, is_default=True, time_zone="Europe/Berlin"
    )


@pytest.fixture
def api(status_page):
    core = ComponentGroup.objects.create(page=status_page, name="Core")
    return Component.objects.create(page=status_page, group=core, name="API", created_at=LONG_AGO)


@pytest.fixture
def web(status_page):
    return Component.objects.create(page=status_page, name="Web", position=1, created_at=LONG_AGO)


@pytest.fixture
def other_page(other_team):
    return StatusPage.objects.create(slug="payments", title="Payments", team=other_team)


def parse_xml(content: bytes):
    return ET.fromstring(content)  # noqa: S314 (Vigil's own response, not untrusted data)


def declare(team, by, title="db-7 disk full on the primary", private=False):
    return incident_declare(
        title=title,
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=by,
        is_private=private,
    )


def post_public(incident, status_page, by, body, phase="investigating", name=None, **kw):
    return status_update_post(
        incident=incident,
        phase=phase,
        body=body,
        by=by,
        public=True,
        page=status_page,
        name=name,
        **kw,
    )


def post_internal(incident, by, body):
    return status_update_post(incident=incident, phase="identified", body=body, by=by)


def everything_public(client, status_page, incident_id):
    """Every public page and feed of the default page, as one text."""
    urls = [
        reverse("status_page"),
        reverse("status_history"),
        reverse("status_atom"),
        reverse("status_rss"),
        reverse("status_page_named", kwargs={"slug": status_page.slug}),
    ]
    texts = [client.get(url).content.decode() for url in urls]
    detail = client.get(reverse("status_incident", kwargs={"pk": incident_id}))
    if detail.status_code == 200:
        texts.append(detail.content.decode())
    return "\n".join(texts)


# --- The page ---------------------------------------------------------------------------------


def test_the_page_shows_a_public_update_and_its_components_status(
    client, team, responder, status_page, api, web
):
    incident = declare(team, responder)
    post_public(
        incident,
        status_page,
        responder,
        "Some **checkouts** fail; we are looking into it.",
        name="Checkout errors",
        components={api.pk: "partial_outage"},
    )

    response = client.get(reverse("status_page"))

    assert response.status_code == 200
    assert response["Cache-Control"] in ("public, max-age=5", "max-age=5, public")
    html = response.content.decode()
    assert '<meta name="viewport"' in html
    assert "Checkout errors" in html
    assert "Some <strong>checkouts</strong> fail; we are looking into it." in html
    assert "Minor Service Outage" in html
    assert (
        'sp-status-partial_outage"><span class="sp-dot" aria-hidden="true"></span>Partial outage'
        in html
    )
    assert (
        'sp-status-operational"><span class="sp-dot" aria-hidden="true"></span>Operational' in html
    )
    assert "Core" in html
    # The time is the page's own, and says so.
    assert "CET" in html
    assert "Times are shown in Europe/Berlin." in html


def test_the_page_says_all_systems_operational_without_incidents(client, status_page, api):
    response = client.get(reverse("status_page_named", kwargs={"slug": "acme"}))

    assert response.status_code == 200
    assert "All Systems Operational" in response.content.decode()


def test_the_page_sanitises_what_an_update_says(client, team, responder, status_page, api):
    incident = declare(team, responder)
    post_public(
        incident,
        status_page,
        responder,
        "<script>alert(1)</script> [x](javascript:alert(2))",
        name="Odd",
    )

    html = client.get(reverse("status_page")).content.decode()

    assert "<script>alert(1)" not in html
    assert "javascript:" not in html


def test_the_page_shows_upcoming_maintenance(client, status_page, api):
    now = dt.datetime.now(dt.UTC)
    window = Maintenance.objects.create(
        page=status_page,
        name="Database upgrade",
        starts_at=now + dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=1, hours=2),
    )
    window.components.add(api)
    Maintenance.objects.create(
        page=status_page,
        name="Last month's move",
        starts_at=now - dt.timedelta(days=30),
        ends_at=now - dt.timedelta(days=30, hours=-1),
    )

    html = client.get(reverse("status_page")).content.decode()

    assert "Database upgrade" in html
    assert "Scheduled" in html
    assert "Last month&#x27;s move" not in html and "Last month's move" not in html


def test_the_page_shows_only_an_https_logo(client, status_page, api):
    status_page.logo_url = "https://cdn.acme.example/logo.png"
    status_page.save()
    response = client.get(reverse("status_page"))
    assert 'src="https://cdn.acme.example/logo.png"' in response.content.decode()
    assert "img-src 'self' https://cdn.acme.example" in response["Content-Security-Policy"]

    status_page.logo_url = "http://cdn.acme.example/logo.png"
    status_page.save()
    response = client.get(reverse("status_page"))
    assert "logo.png" not in response.content.decode()
    assert "cdn.acme.example" not in response["Content-Security-Policy"]


def test_the_page_answers_head_and_refuses_post(client, status_page, api):
    assert client.head(reverse("status_page")).status_code == 200
    assert client.post(reverse("status_page")).status_code == 405


# --- What never appears -------------------------------------------------------------------


def test_it_never_shows_an_internal_update_or_the_internal_title(
    client, team, responder, status_page, api
):
    incident = declare(team, responder, title="Internal: db-7 disk full")
    post_internal(incident, responder, "Root cause is the cron job Bob wrote")
    post_public(
        incident, status_page, responder, "Checkouts fail for some people.", name="Checkout errors"
    )
    post_internal(incident, responder, "Bob is rolling back the cron job")

    text = everything_public(client, status_page, incident.pk)

    assert "Checkouts fail for some people." in text
    assert "Bob" not in text
    assert "db-7" not in text


def test_it_never_shows_a_private_incident(client, team, responder, status_page, api):
    incident = declare(team, responder, title="Security: leaked key", private=True)
    post_internal(incident, responder, "Rotating the leaked signing key")

    text = everything_public(client, status_page, incident.pk)

    assert "leaked" not in text
    assert client.get(reverse("status_incident", kwargs={"pk": incident.pk})).status_code == 404


def test_it_hides_an_incident_made_private_after_its_public_update(
    client, team, responder, status_page, api
):
    incident = declare(team, responder)
    post_public(
        incident,
        status_page,
        responder,
        "Logins fail for everyone.",
        name="Login failures",
        components={api.pk: "major_outage"},
    )
    assert "Login failures" in client.get(reverse("status_page")).content.decode()

    # As the admin does it: a save, which also drops the pages' cached answers.
    incident.is_private = True
    incident.save(update_fields=["is_private"])

    text = everything_public(client, status_page, incident.pk)
    assert "Login failures" not in text
    assert "Logins fail" not in text
    assert "sp-status-major_outage" not in text
    assert "All Systems Operational" in text
    assert client.get(reverse("status_incident", kwargs={"pk": incident.pk})).status_code == 404


def test_a_drill_never_reaches_the_status_page(client, team, responder, status_page, api):
    """A drill's public update is refused, and a drill that somehow holds one (an incident
    marked a drill after the fact) is hidden everywhere the public reads."""
    drill = declare(team, responder, title="Drill: AgentHighErrorRate")
    drill.is_drill = True
    drill.save(update_fields=["is_drill"])
    with pytest.raises(StatusError, match="A drill never goes on a public status page"):
        post_public(drill, status_page, responder, "Errors at 45%.", name="Drill errors")

    incident = declare(team, responder)
    post_public(
        incident,
        status_page,
        responder,
        "Logins fail for everyone.",
        name="Login failures",
        components={api.pk: "major_outage"},
    )
    incident.is_drill = True
    incident.save(update_fields=["is_drill"])

    text = everything_public(client, status_page, incident.pk)
    assert "Login failures" not in text
    assert "Drill" not in text
    assert "sp-status-major_outage" not in text
    assert "All Systems Operational" in text
    assert client.get(reverse("status_incident", kwargs={"pk": incident.pk})).status_code == 404


# --- History and one incident ---------------------------------------------------------------


def test_history_lists_the_resolved_incidents_by_day_newest_first(
    client, team, responder, status_page, api, time_machine
):
    time_machine.move_to("2026-11-10 09:00:00Z", tick=False)
    older = declare(team, responder)
    post_public(older, status_page, responder, "Slow searches.", name="Slow search")
    post_public(older, status_page, responder, "Searches are fast again.", phase="resolved")
    time_machine.move_to("2026-11-25 16:00:00Z", tick=False)
    newer = declare(team, responder)
    post_public(newer, status_page, responder, "Emails are late.", name="Late emails")
    time_machine.move_to("2026-11-25 17:30:00Z", tick=False)
    post_public(newer, status_page, responder, "Emails are on time.", phase="resolved")
    time_machine.move_to("2026-08-01 10:00:00Z", tick=False)
    ancient = declare(team, responder)
    post_public(
        ancient, status_page, responder, "Old news.", name="Ancient outage", phase="resolved"
    )
    time_machine.move_to("2026-12-02 12:00:00Z", tick=False)
    ongoing = declare(team, responder)
    post_public(ongoing, status_page, responder, "Uploads fail.", name="Upload failures")

    html = client.get(reverse("status_history")).content.decode()

    assert html.index("25 November 2026") < html.index("Late emails")
    assert html.index("Late emails") < html.index("10 November 2026")
    assert html.index("10 November 2026") < html.index("Slow search")
    assert html.index("Emails are on time.") < html.index("Emails are late.")
    assert "18:30 CET" in html  # resolved at 17:30 UTC, shown in Berlin's time
    assert "Ancient outage" not in html
    assert "Upload failures" not in html


def test_the_incident_page_shows_its_public_updates_newest_first(
    client, team, responder, status_page, api, time_machine
):
    time_machine.move_to("2026-12-02 10:00:00Z", tick=False)
    incident = declare(team, responder)
    post_public(
        incident,
        status_page,
        responder,
        "Payments are declined.",
        name="Declined payments",
        components={api.pk: "major_outage"},
    )
    time_machine.move_to("2026-12-02 10:20:00Z", tick=False)
    post_public(incident, status_page, responder, "We found the cause.", phase="identified")

    response = client.get(reverse("status_incident", kwargs={"pk": incident.pk}))

    assert response.status_code == 200
    assert response["Cache-Control"] in ("public, max-age=5", "max-age=5, public")
    html = response.content.decode()
    assert "Declined payments" in html
    assert html.index("We found the cause.") < html.index("Payments are declined.")
    assert "11:20 CET" in html
    assert "API" in html and "Major outage" in html
    named = reverse("status_incident_named", kwargs={"slug": "acme", "pk": incident.pk})
    assert client.get(named).status_code == 200


# --- Not found ------------------------------------------------------------------------------


def test_an_unknown_page_is_not_found(client, status_page):
    assert client.get(reverse("status_page_named", kwargs={"slug": "nope"})).status_code == 404
    assert client.get("/status/p/nope/feed.atom").status_code == 404
    assert client.get("/status/p/nope/history/").status_code == 404


def test_without_any_page_the_status_address_is_not_found(client, db):
    assert client.get(reverse("status_page")).status_code == 404
    assert client.get(reverse("status_atom")).status_code == 404


def test_an_incident_of_another_page_is_not_found(
    client, team, other_team, responder, status_page, other_page, api
):
    payments_responder = member(other_team, Role.RESPONDER, username="paula")
    theirs = declare(other_team, payments_responder)
    post_public(theirs, other_page, payments_responder, "Card payments fail.", name="Card outage")

    assert client.get(reverse("status_incident", kwargs={"pk": theirs.pk})).status_code == 404
    theirs_there = reverse("status_incident_named", kwargs={"slug": "payments", "pk": theirs.pk})
    assert client.get(theirs_there).status_code == 200
    assert "Card outage" not in client.get(reverse("status_page")).content.decode()


def test_an_incident_never_posted_publicly_is_not_found(client, team, responder, status_page):
    incident = declare(team, responder)
    post_internal(incident, responder, "Looking into it")
    assert client.get(reverse("status_incident", kwargs={"pk": incident.pk})).status_code == 404


def test_a_component_of_another_page_has_no_badge(client, status_page, other_page, api):
    theirs = Component.objects.create(page=other_page, name="Cards")

    badge = reverse("status_badge", kwargs={"component_id": theirs.pk})
    assert client.get(badge).status_code == 404
    theirs_there = reverse(
        "status_badge_named", kwargs={"slug": "payments", "component_id": theirs.pk}
    )
    assert client.get(theirs_there).status_code == 200


def test_ids_no_row_can_have_are_not_found(client, status_page, api):
    for url in [
        f"/status/incidents/{HUGE}/",
        f"/status/p/acme/incidents/{HUGE}/",
        f"/status/badge/{HUGE}.svg",
        f"/status/p/acme/badge/{HUGE}.svg",
        "/status/incidents/0/",
        "/status/incidents/12abc/",
        "/status/badge/-1.svg",
    ]:
        assert client.get(url).status_code == 404, url


def test_an_odd_query_string_changes_nothing(client, status_page, api):
    assert client.get(reverse("status_page"), {"page": "'; drop", "x": "é"}).status_code == 200
    assert client.get(reverse("status_page") + "?a=%00").status_code == 400


# --- Feeds and badges -----------------------------------------------------------------------


def test_the_atom_feed_holds_the_public_updates_only(client, team, responder, status_page, api):
    incident = declare(team, responder, title="Internal: db-7 disk full")
    post_public(incident, status_page, responder, "Checkouts fail for **some** people.", name="X")
    post_internal(incident, responder, "Bob is rolling back the cron job")

    response = client.get(reverse("status_atom"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    assert response["Cache-Control"] in ("public, max-age=5", "max-age=5, public")
    feed = parse_xml(response.content)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 1
    assert entries[0].findtext(f"{ATOM}title") == "X: Investigating"
    assert "<strong>some</strong>" in entries[0].findtext(f"{ATOM}summary")
    link = entries[0].find(f"{ATOM}link").get("href")
    assert link.startswith(f"http://testserver/status/incidents/{incident.pk}/#update-")
    assert b"Bob" not in response.content and b"db-7" not in response.content


def test_the_rss_feed_holds_the_public_updates_only(client, team, responder, status_page, api):
    incident = declare(team, responder, title="Internal: db-7 disk full")
    post_public(
        incident, status_page, responder, "Checkouts fail for some people.", name="Checkout errors"
    )
    post_internal(incident, responder, "Bob is rolling back the cron job")

    response = client.get(reverse("status_rss_named", kwargs={"slug": "acme"}))

    assert response["Content-Type"].startswith("application/rss+xml")
    channel = parse_xml(response.content).find("channel")
    assert channel.findtext("link") == "http://testserver/status/p/acme/"
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == ["Checkout errors: Investigating"]
    assert (
        items[0]
        .findtext("link")
        .startswith(f"http://testserver/status/p/acme/incidents/{incident.pk}/#update-")
    )
    assert b"Bob" not in response.content and b"db-7" not in response.content


def test_the_feeds_hold_the_newest_fifty_updates(client, team, responder, status_page, api):
    incident = declare(team, responder)
    for n in range(55):
        post_public(incident, status_page, responder, f"Update number {n}.", name="Long outage")

    feed = parse_xml(client.get(reverse("status_atom")).content)

    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 50
    assert "Update number 54." in entries[0].findtext(f"{ATOM}summary")


def test_the_badge_is_svg_with_its_text_escaped(client, team, responder, status_page):
    odd = Component.objects.create(page=status_page, name="<b>&")
    incident = declare(team, responder)
    post_public(
        incident, status_page, responder, "Down.", name="Down", components={odd.pk: "major_outage"}
    )

    response = client.get(reverse("status_badge", kwargs={"component_id": odd.pk}))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Cache-Control"] in ("public, max-age=5", "max-age=5, public")
    assert b"<b>" not in response.content
    assert b"&lt;b&gt;&amp;" in response.content
    svg = parse_xml(response.content)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == ["<b>&", "major outage"]


# --- Uptime ---------------------------------------------------------------------------------


def test_the_uptime_bars_count_each_outage_by_hand(
    client, team, responder, status_page, api, web, time_machine
):
    # API: a major outage of 144 minutes on 20 Nov. Web: a partial outage of 35 minutes today.
    time_machine.move_to("2026-11-20 09:00:00Z", tick=False)
    first = declare(team, responder)
    post_public(
        first,
        status_page,
        responder,
        "API down.",
        name="API down",
        components={api.pk: "major_outage"},
    )
    time_machine.move_to("2026-11-20 11:24:00Z", tick=False)
    post_public(first, status_page, responder, "API back.", phase="resolved")
    time_machine.move_to("2026-12-02 08:00:00Z", tick=False)
    second = declare(team, responder)
    post_public(
        second,
        status_page,
        responder,
        "Web slow.",
        name="Web",
        components={web.pk: "partial_outage"},
    )
    time_machine.move_to("2026-12-02 08:35:00Z", tick=False)
    post_public(second, status_page, responder, "Web fine.", phase="resolved")
    time_machine.move_to("2026-12-02 12:00:00Z", tick=False)

    html = client.get(reverse("status_page")).content.decode()

    # The window opens at midnight in Berlin 89 days before today (3 Sep 22:00 UTC) and runs
    # to now: 89 days 14 h = 7,740,000 s. API: 8,640 s down → 99.888%. Web: 2,100 s at 30%
    # = 630 s down → 99.992%. 144 minutes of exactly 90 days would be 99.889%, the same 99.89.
    assert "99.89% uptime" in html
    assert "99.99% uptime" in html
    assert "20 Nov: major outage 2 h 24 min" in html
    assert "2 Dec: partial outage 35 min" in html
    assert "1 Dec: No downtime recorded" in html
    assert html.count('<li class="sp-bar ') == 180
    assert html.count('<li class="sp-bar sp-bar-major_outage"') == 1
    assert html.count('<li class="sp-bar sp-bar-partial_outage"') == 1
    assert '"4 Sep: No downtime recorded"' in html and '"3 Sep:' not in html


# --- Query counts ---------------------------------------------------------------------------


def _add_incidents(team, by, status_page, components, count, resolved):
    incidents = []
    for n in range(count):
        incident = declare(team, by, title=f"Internal name {n}")
        component = components[n % len(components)]
        post_public(
            incident,
            status_page,
            by,
            f"Public update {n}.",
            name=f"Outage {n}",
            components={component.pk: "partial_outage"},
        )
        post_internal(incident, by, f"Internal update {n}")
        if resolved:
            post_public(incident, status_page, by, "Fixed.", phase="resolved")
        incidents.append(incident)
    return incidents


# The page: the page, its components, the public incidents, their public updates, those
# updates' component impacts, the maintenance windows and their components. History: the
# page, the resolved public incidents, their updates and impacts. One incident: the page, its
# public incident, updates and impacts. A feed: the page and its updates. A badge: the page,
# the component, then what the page reads but the uptime.
EXPECTED_QUERIES = {
    "page": 7,
    "history": 4,
    "incident": 4,
    "atom": 2,
    "rss": 2,
    "badge": 8,
}


def test_the_pages_queries_stay_the_same_at_ten_times_the_incidents(
    client, team, responder, status_page, api, web, django_assert_num_queries
):
    window_start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    window = Maintenance.objects.create(
        page=status_page,
        name="Upgrade",
        starts_at=window_start,
        ends_at=window_start + dt.timedelta(hours=3),
    )
    window.components.add(web)
    Component.objects.create(page=status_page, name="Search", created_at=LONG_AGO)
    first = _add_incidents(team, responder, status_page, [api, web], 2, resolved=False)[0]
    urls = {
        "page": reverse("status_page"),
        "history": reverse("status_history"),
        "incident": reverse("status_incident", kwargs={"pk": first.pk}),
        "atom": reverse("status_atom"),
        "rss": reverse("status_rss"),
        "badge": reverse("status_badge", kwargs={"component_id": api.pk}),
    }

    def each_answers_in_its_queries():
        for name, url in urls.items():
            with django_assert_num_queries(EXPECTED_QUERIES[name]):
                assert client.get(url).status_code == 200

    _add_incidents(team, responder, status_page, [api, web], 2, resolved=True)
    each_answers_in_its_queries()
    _add_incidents(team, responder, status_page, [api, web], 18, resolved=False)
    _add_incidents(team, responder, status_page, [api, web], 20, resolved=True)
    for n in range(9):  # the first incident's updates grow tenfold too
        post_public(first, status_page, responder, f"Still looking ({n}).")
    each_answers_in_its_queries()
