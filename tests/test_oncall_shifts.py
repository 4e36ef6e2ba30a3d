"""The shift function: properties (Hypothesis) and daylight-saving behaviour."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncall.shifts import (
    LayerSpec,
    OverrideSpec,
    ScheduleSpec,
    compute_shifts,
    nonexistent_handoffs,
)

UTC = dt.UTC
BASE = dt.datetime(2026, 1, 1, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]


def safe_time(tz_name):
    # Handoff times that exist every day in these zones (the gap hours are refused on save).
    return st.builds(
        dt.time, st.sampled_from([0, 1, 4, 6, 9, 12, 17, 23]), st.sampled_from([0, 30])
    )


@st.composite
def schedules(draw, business_hours=False):
    tz_name = draw(st.sampled_from(ZONES))
    layers = []
    for i in range(draw(st.integers(1, 3))):
        layers.append(
            LayerSpec(
                id=i + 1,
                name=f"L{i}",
                position=i,
                members=tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))),
                start_date=dt.date(2025, 12, 1) + dt.timedelta(days=draw(st.integers(0, 20))),
                handoff_time=draw(safe_time(tz_name)),
                handoff_weekday=draw(st.integers(0, 6)),
                cadence=draw(st.sampled_from(["daily", "weekly"])),
                interval=draw(st.integers(1, 3)),
                restriction="business_hours" if business_hours and draw(st.booleans()) else "none",
            )
        )
    overrides = []
    for j in range(draw(st.integers(0, 6))):
        start = BASE + dt.timedelta(minutes=draw(st.integers(0, 60 * 24 * 60)))
        overrides.append(
            OverrideSpec(
                id=100 + j,
                layer_id=draw(st.integers(1, len(layers))),
                user_id=draw(st.integers(7, 9)),
                start=start,
                end=start + dt.timedelta(minutes=draw(st.integers(1, 60 * 24 * 10))),
            )
        )
    return ScheduleSpec(time_zone=tz_name, layers=tuple(layers), overrides=tuple(overrides))


windows = st.tuples(st.integers(0, 60 * 24 * 60), st.integers(1, 60 * 24 * 40)).map(
    lambda t: (BASE + dt.timedelta(minutes=t[0]), BASE + dt.timedelta(minutes=t[0] + t[1]))
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(spec=schedules(business_hours=True), window=windows)
def test_no_two_shifts_of_a_layer_overlap(spec, window):
    result = compute_shifts(spec, *window)
    for shifts in result.shifts.values():
        for a, b in zip(shifts, shifts[1:], strict=False):
            assert a.end <= b.start
        for s in shifts:
            assert s.start < s.end


@FAST
@given(spec=schedules(business_hours=True), window=windows)
def test_a_layer_with_members_covers_the_whole_window_after_it_starts(spec, window):
    start, end = window
    result = compute_shifts(spec, start, end)
    for layer in spec.layers:
        assert result.gaps[layer.id] == []  # business-hours layers: every business hour
        if layer.restriction == "business_hours":
            continue
        shifts = result.shifts[layer.id]
        tz = ZoneInfo(spec.time_zone)
        first = dt.datetime.combine(layer.first_handoff_date, layer.handoff_time, tzinfo=tz)
        cursor = max(start, first.astimezone(UTC))
        if cursor >= end and not shifts:
            continue
        for s in shifts:
            if s.end <= cursor:
                continue
            assert s.start <= cursor, f"hole from {cursor} to {s.start}"
            cursor = s.end
        assert cursor >= end


@FAST
@given(spec=schedules(business_hours=True), window=windows)
def test_overrides_always_win(spec, window):
    start, end = window
    result = compute_shifts(spec, start, end)
    for layer in spec.layers:
        own = [o for o in spec.overrides if o.layer_id == layer.id]
        for o in own:
            lo, hi = max(o.start, start), min(o.end, end)
            if lo >= hi:
                continue
            # At every shift boundary inside the override, someone from an override is on call,
            # and the winner is the latest override covering that instant.
            probes = {lo} | {s.start for s in result.shifts[layer.id] if lo <= s.start < hi}
            for t in probes:
                covering = [x for x in own if x.start <= t < x.end]
                winner = covering[-1]
                on_call = [s for s in result.shifts[layer.id] if s.start <= t < s.end]
                assert [(s.user_id, s.override_id) for s in on_call] == [
                    (winner.user_id, winner.id)
                ]


@FAST
@given(spec=schedules(business_hours=True), window=windows, cut=st.floats(0.01, 0.99))
def test_the_result_does_not_depend_on_how_the_window_is_split(spec, window, cut):
    start, end = window
    middle = start + (end - start) * cut
    whole = compute_shifts(spec, start, end)
    left = compute_shifts(spec, start, middle)
    right = compute_shifts(spec, middle, end)
    for layer in spec.layers:
        joined = sorted(set(left.shifts[layer.id]) | set(right.shifts[layer.id]))
        assert joined == whole.shifts[layer.id]
        gaps = sorted(left.gaps[layer.id] + right.gaps[layer.id])
        merged = []
        for g in gaps:
            if merged and merged[-1][1] == g[0]:
                merged[-1] = (merged[-1][0], g[1])
            else:
                merged.append(g)
        assert merged == whole.gaps[layer.id]


def weekly(tz_name, handoff, weekday, start_date, members=(1, 2)):
    layer = LayerSpec(
        id=1,
        name="Primary",
        members=members,
        start_date=start_date,
        handoff_time=handoff,
        handoff_weekday=weekday,
    )
    return ScheduleSpec(time_zone=tz_name, layers=(layer,))


def daily(tz_name, handoff, start_date):
    layer = LayerSpec(
        id=1,
        name="Primary",
        members=(1, 2),
        start_date=start_date,
        handoff_time=handoff,
        cadence="daily",
    )
    return ScheduleSpec(time_zone=tz_name, layers=(layer,))


@pytest.mark.parametrize(
    ("tz_name", "change_day"),
    [
        ("Europe/Berlin", dt.date(2026, 3, 29)),  # spring forward
        ("Europe/Berlin", dt.date(2026, 10, 25)),  # fall back
        ("America/New_York", dt.date(2026, 3, 8)),
        ("America/New_York", dt.date(2026, 11, 1)),
    ],
)
def test_daily_handoffs_stay_at_the_local_time_on_both_sides_of_a_dst_change(tz_name, change_day):
    tz = ZoneInfo(tz_name)
    spec = daily(tz_name, dt.time(9, 0), change_day - dt.timedelta(days=5))
    start = dt.datetime.combine(change_day - dt.timedelta(days=3), dt.time(), tzinfo=tz)
    end = dt.datetime.combine(change_day + dt.timedelta(days=3), dt.time(), tzinfo=tz)
    shifts = compute_shifts(spec, start.astimezone(UTC), end.astimezone(UTC)).shifts[1]
    local_starts = [s.start.astimezone(tz) for s in shifts]
    assert {(t.hour, t.minute) for t in local_starts} == {(9, 0)}
    days = [t.date() for t in local_starts]
    assert change_day - dt.timedelta(days=1) in days and change_day + dt.timedelta(days=1) in days
    offsets = {t.utcoffset() for t in local_starts}
    assert len(offsets) == 2  # the UTC time moved by an hour; the local time did not
    lengths = {s.end - s.start for s in shifts}
    assert dt.timedelta(hours=23) in lengths or dt.timedelta(hours=25) in lengths


def test_weekly_berlin_handoff_on_the_spring_forward_sunday_is_at_local_time():
    spec = weekly("Europe/Berlin", dt.time(9, 0), 6, dt.date(2026, 3, 1))
    start = dt.datetime(2026, 3, 21, tzinfo=UTC)
    shifts = compute_shifts(spec, start, start + dt.timedelta(days=14)).shifts[1]
    by_start = {s.start: s for s in shifts}
    # Sunday 22 March 09:00 CET = 08:00 UTC; Sunday 29 March 09:00 CEST = 07:00 UTC.
    assert dt.datetime(2026, 3, 22, 8, tzinfo=UTC) in by_start
    assert dt.datetime(2026, 3, 29, 7, tzinfo=UTC) in by_start
    assert by_start[dt.datetime(2026, 3, 22, 8, tzinfo=UTC)].end == dt.datetime(
        2026, 3, 29, 7, tzinfo=UTC
    )  # a week one hour short


def test_new_york_handoff_at_the_repeated_hour_uses_its_first_occurrence():
    # 01:30 happens twice on 1 November 2026 in New York: EDT (05:30 UTC), then EST.
    spec = weekly("America/New_York", dt.time(1, 30), 6, dt.date(2026, 10, 1))
    start = dt.datetime(2026, 10, 30, tzinfo=UTC)
    shifts = compute_shifts(spec, start, start + dt.timedelta(days=10)).shifts[1]
    assert dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC) in {s.start for s in shifts}
    assert dt.datetime(2026, 11, 8, 6, 30, tzinfo=UTC) in {s.start for s in shifts}


def test_a_nonexistent_handoff_time_is_found_on_the_spring_forward_day():
    layer = LayerSpec(
        id=1,
        name="Primary",
        members=(1,),
        start_date=dt.date(2026, 3, 1),
        handoff_time=dt.time(2, 30),
        handoff_weekday=6,
    )
    assert nonexistent_handoffs(layer, "Europe/Berlin")[0] == dt.date(2026, 3, 29)
    # On a Monday handoff day the clocks never jump in Berlin: allowed.
    monday = LayerSpec(**{**layer.__dict__, "handoff_weekday": 0})
    assert nonexistent_handoffs(monday, "Europe/Berlin") == []


def test_members_take_turns_in_order():
    spec = weekly("UTC", dt.time(9), 0, dt.date(2026, 1, 5), members=(1, 2, 3))
    start = dt.datetime(2026, 1, 5, 9, tzinfo=UTC)
    shifts = compute_shifts(spec, start, start + dt.timedelta(weeks=5)).shifts[1]
    assert [s.user_id for s in shifts] == [1, 2, 3, 1, 2]


def test_a_deactivated_persons_shifts_become_gaps():
    spec = weekly("UTC", dt.time(9), 0, dt.date(2026, 1, 5), members=(1, 2))
    spec = ScheduleSpec(time_zone="UTC", layers=spec.layers, absent_user_ids=frozenset({2}))
    start = dt.datetime(2026, 1, 5, 9, tzinfo=UTC)
    result = compute_shifts(spec, start, start + dt.timedelta(weeks=2))
    assert [s.user_id for s in result.shifts[1]] == [1]
    assert result.gaps[1] == [(start + dt.timedelta(weeks=1), start + dt.timedelta(weeks=2))]


def test_a_business_hours_layer_is_on_call_only_in_business_hours():
    layer = LayerSpec(
        id=1,
        name="Day",
        members=(1,),
        start_date=dt.date(2026, 1, 5),
        restriction="business_hours",
    )
    spec = ScheduleSpec(time_zone="Europe/Berlin", layers=(layer,))
    start = dt.datetime(2026, 1, 5, tzinfo=UTC)
    result = compute_shifts(spec, start, start + dt.timedelta(weeks=1))
    assert len(result.shifts[1]) == 5
    first = result.shifts[1][0]
    assert (first.start, first.end) == (
        dt.datetime(2026, 1, 5, 8, tzinfo=UTC),
        dt.datetime(2026, 1, 5, 16, tzinfo=UTC),
    )
    assert result.gaps[1] == []
