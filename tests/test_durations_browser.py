"""The clocks that tick in the browser word a length of time exactly as the server does
(common.text.duration and the `ago` filter): one wording, whichever side wrote it."""

import datetime as dt
from pathlib import Path

import pytest

from common.text import duration
from incidents.templatetags.clocks import ago

# No database: a browser test on one leaves Playwright's event loop running in this thread
# while the test database is set up, and the async views of later tests then fail.
pytestmark = pytest.mark.browser

DURATIONS_JS = Path(__file__).resolve().parent.parent / "static" / "js" / "durations.js"
# Every second of the first two hours, then the edges of each unit, fractions of a second
# and lengths of days, where a formatter would round, pad or drop a unit differently.
PARITY_SECONDS = sorted(
    set(range(7300))
    | {-3600, -1.5, -0.25, 0.001, 0.5, 0.999, 1.001, 59.999, 60.5, 3599.999, 3600.001}
    | {s + d for s in (86399, 86400, 86401, 90000, 93599, 172800, 9_999_999) for d in (0, 0.75)}
    | set(range(7300, 400_000, 997))
)


def test_the_browser_clocks_word_every_length_exactly_as_the_server_does(page):
    page.set_content("<!doctype html><title>Clocks</title>")
    page.add_script_tag(path=str(DURATIONS_JS))  # the file the incident page loads
    in_browser = page.evaluate(
        "seconds => seconds.map(s => [vigilDurations.duration(s), vigilDurations.ago(s)])",
        PARITY_SECONDS,
    )
    now = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)
    on_server = [[duration(s), ago(now - dt.timedelta(seconds=s), now)] for s in PARITY_SECONDS]
    differ = [
        (s, js, py)
        for s, js, py in zip(PARITY_SECONDS, in_browser, on_server, strict=True)
        if js != py
    ]
    assert differ == []
    assert page.evaluate("vigilDurations.duration(null)") == duration(None) == ""
