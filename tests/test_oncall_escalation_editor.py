"""The escalation policy editor: a manager saves the form as the browser submits it, with its
blank "new, leave empty to skip" step untouched, and adds, changes and removes steps."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from teams.models import Role
from tests.factories import PASSWORD, member
from tests.test_oncall_pages import platform

pytestmark = pytest.mark.django_db


class _FormValues(HTMLParser):
    """What a browser submits for the page's POST form when nobody touches it."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self._in_form = False
        self._select = None
        self._select_first = None
        self._select_chosen = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("method") == "post":
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.values[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select, self._select_first, self._select_chosen = a["name"], None, None
        elif tag == "option" and self._select:
            if self._select_first is None:
                self._select_first = a.get("value", "")
            if "selected" in a:
                self._select_chosen = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            chosen = self._select_chosen
            self.values[self._select] = chosen if chosen is not None else self._select_first
            self._select = None
        elif tag == "form":
            self._in_form = False


def as_submitted(html: str) -> dict[str, str]:
    parser = _FormValues()
    parser.feed(html)
    return parser.values


def manager_page(client):
    team, schedule, people, sam = platform()
    assert client.login(username=sam.username, password=PASSWORD)
    url = reverse("oncall_escalation", args=[team.slug])
    page = client.get(url)
    assert page.status_code == 200
    return team, schedule, people, sam, url, as_submitted(page.content.decode())


def steps_of(team):
    policy = team.escalation_policies.get()
    return [(s.target_kind, s.layer_id, s.user_id, s.wait_minutes) for s in policy.steps.all()]


def test_a_manager_saves_the_path_with_the_blank_extra_step_untouched(client):
    team, schedule, people, sam, url, data = manager_page(client)
    before = steps_of(team)
    assert data["step-TOTAL_FORMS"] == "4" and data["step-3-target_kind"] == ""
    data["repeat"] = "3"
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()
    assert steps_of(team) == before
    assert team.escalation_policies.get().repeat == 3
    assert AuditEntry.objects.filter(action="escalation_policy.update", actor=sam).exists()


def test_a_manager_adds_changes_and_removes_steps(client):
    team, schedule, people, sam, url, data = manager_page(client)
    primary = schedule.layers.get(name="Primary")
    data["step-0-wait_minutes"] = "2"  # change
    data["step-1-DELETE"] = "on"  # remove the secondary layer's step
    data["step-3-target_kind"] = "user"  # add
    data["step-3-user"] = str(people[2].pk)
    data["step-3-wait_minutes"] = "7"
    assert client.post(url, data).status_code == 302
    assert steps_of(team) == [
        ("layer", primary.pk, None, 2),
        ("lead", None, None, 15),
        ("user", None, people[2].pk, 7),
    ]
    page = client.get(url).content.decode()
    assert "At +0 min" in page and "At +2 min" in page and "At +17 min" in page


def test_a_half_filled_new_step_is_refused_with_the_reason(client):
    team, schedule, people, sam, url, data = manager_page(client)
    before = steps_of(team)
    data["step-3-wait_minutes"] = "9"  # a wait, but nobody to notify
    response = client.post(url, data)
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    data["step-3-target_kind"] = "layer"
    response = client.post(url, data)
    assert response.status_code == 400
    assert "Choose the layer" in response.content.decode()
    assert steps_of(team) == before


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER])
def test_viewers_and_responders_see_the_path_but_may_not_save_it(client, role):
    team, schedule, people, sam, url, data = manager_page(client)
    client.logout()
    other = member(team, role=role, username=f"other-{role}")
    assert client.login(username=other.username, password=PASSWORD)
    page = client.get(url).content.decode()
    assert "Edit the steps" not in page
    assert client.post(url, data).status_code == 403
