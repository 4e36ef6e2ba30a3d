"""Shift computation: the one place that answers "who is on call at t".

`compute_shifts(spec, start, end)` is a pure function of plain data (no database), so it can be
tested exhaustively and reused by pages, the API, the calendar feeds, reminders and paging.

Rules:
- A layer's handoffs happen at `handoff_time` local to the schedule's time zone (zoneinfo),
  so a 09:00 handoff stays at 09:00 local on both sides of a daylight-saving change.
- The first shift starts at the first handoff on or after the layer's start date (for a weekly
  cadence: the first `handoff_weekday` on or after it); before that the layer has nobody.
- Members take turns in order; handoff k goes to member k mod n.
- An ambiguous local time (the repeated hour when clocks go back) means its first occurrence.
  A local time that does not exist (the skipped hour when clocks go forward) is refused when a
  layer is saved (`nonexistent_handoffs`); should one reach this function anyway (a time-zone
  database update), it is read with the offset before the change, i.e. one hour later on the
  wall clock.
- A business-hours layer is on call only Monday–Friday from `active_from` to `active_until`
  local time; outside those hours it is intentionally empty (not a gap).
- An override always wins over the rotation, also outside restricted hours; where overrides
  overlap, the one listed later (the more recently created) wins. Overrides by people listed
  in `absent_user_ids` (deactivated accounts) are ignored, and their rotation shifts become
  gaps.
- Shifts are returned whole (their real start and end, not cut at the window), for every
  shift that overlaps [start, end); so splitting a window never changes the shifts found.
  Gaps are clipped to the window.
"""

import bisect
import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UTC = dt.UTC
DAILY, WEEKLY = "daily", "weekly"
BUSINESS_HOURS = "business_hours"


@dataclass(frozen=True)
class LayerSpec:
    id: int
    name: str
    members: tuple[int, ...]
    start_date: dt.date
    handoff_time: dt.time = dt.time(9, 0)
    handoff_weekday: int = 0
    cadence: str = WEEKLY
    interval: int = 1
    restriction: str = "none"
    active_from: dt.time = dt.time(9, 0)
    active_until: dt.time = dt.time(17, 0)
    position: int = 0

    @property
    def period_days(self) -> int:
        return self.interval * (7 if self.cadence == WEEKLY else 1)

    @property
    def first_handoff_date(self) -> dt.date:
        if self.cadence == WEEKLY:
            ahead = (self.handoff_weekday - self.start_date.weekday()) % 7
            return self.start_date + dt.timedelta(days=ahead)
        return self.start_date


@dataclass(frozen=True)
class OverrideSpec:
    id: int
    layer_id: int
    user_id: int
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class ScheduleSpec:
    time_zone: str
    layers: tuple[LayerSpec, ...]
    overrides: tuple[OverrideSpec, ...] = ()
    absent_user_ids: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, order=True)
class Shift:
    start: dt.datetime
    end: dt.datetime
    layer_id: int
    user_id: int
    override_id: int | None = None


@dataclass
class ScheduleShifts:
    shifts: dict[int, list[Shift]]
    gaps: dict[int, list[tuple[dt.datetime, dt.datetime]]]

    def on_call_at(self, layer_id: int, at: dt.datetime) -> list[int]:
        return [s.user_id for s in self.shifts.get(layer_id, []) if s.start <= at < s.end]


def local_to_utc(day: dt.date, at: dt.time, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, at).replace(tzinfo=tz, fold=0).astimezone(UTC)


def time_exists(day: dt.date, at: dt.time, tz: ZoneInfo) -> bool:
    naive = dt.datetime.combine(day, at)
    back = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return back == naive


def nonexistent_handoffs(layer: LayerSpec, time_zone: str, *, years: int = 10) -> list[dt.date]:
    """Handoff dates within `years` of the start on which the handoff time does not exist."""
    tz = ZoneInfo(time_zone)
    day = layer.first_handoff_date
    last = day + dt.timedelta(days=366 * years)
    step = dt.timedelta(days=layer.period_days)
    bad = []
    while day <= last:
        if not time_exists(day, layer.handoff_time, tz):
            bad.append(day)
        day += step
    return bad


def _handoff(layer: LayerSpec, k: int, tz: ZoneInfo) -> dt.datetime:
    day = layer.first_handoff_date + dt.timedelta(days=k * layer.period_days)
    return local_to_utc(day, layer.handoff_time, tz)


def _rotation_shifts(layer: LayerSpec, tz: ZoneInfo, start: dt.datetime, end: dt.datetime):
    """(start, end, user_id) of rotation shifts overlapping [start, end)."""
    if not layer.members:
        return []
    n = len(layer.members)
    first_day = layer.first_handoff_date
    local_start = start.astimezone(tz).date()
    k = max(0, (local_start - first_day).days // layer.period_days - 1)
    out = []
    begin = _handoff(layer, k, tz)
    while begin < end:
        finish = _handoff(layer, k + 1, tz)
        if finish > start:
            out.append((begin, finish, layer.members[k % n]))
        begin, k = finish, k + 1
    return out


def _active_windows(layer: LayerSpec, tz: ZoneInfo, start: dt.datetime, end: dt.datetime):
    """Windows in which the layer is meant to have someone on call, covering [start, end)."""
    layer_start = _handoff(layer, 0, tz)
    if layer.restriction != BUSINESS_HOURS:
        return [(max(start, layer_start), end)] if end > layer_start else []
    windows = []
    day = start.astimezone(tz).date() - dt.timedelta(days=1)
    last = end.astimezone(tz).date() + dt.timedelta(days=1)
    while day <= last:
        if day.weekday() < 5:
            w_start = local_to_utc(day, layer.active_from, tz)
            w_end = local_to_utc(day, layer.active_until, tz)
            if w_end <= w_start:  # an overnight window ends the next morning
                w_end = local_to_utc(day + dt.timedelta(days=1), layer.active_until, tz)
            w_start = max(w_start, layer_start)
            if w_start < w_end and w_end > start and w_start < end:
                windows.append((w_start, w_end))
        day += dt.timedelta(days=1)
    return windows


def _intersect(a_start, a_end, windows, window_ends):
    for w_start, w_end in windows[bisect.bisect_right(window_ends, a_start) :]:
        if w_start >= a_end:
            break
        s, e = max(a_start, w_start), min(a_end, w_end)
        if s < e:
            yield s, e


def _subtract(pieces, cuts):
    """Remove sorted, non-overlapping `cuts` from each (start, end, payload) piece."""
    out = []
    cut_ends = [e for _, e in cuts]
    n = len(cuts)
    for p_start, p_end, payload in pieces:
        cursor = p_start
        i = bisect.bisect_right(cut_ends, cursor)
        while i < n:
            c_start, c_end = cuts[i]
            i += 1
            if c_start >= p_end:
                break
            if c_start > cursor:
                out.append((cursor, c_start, payload))
            cursor = max(cursor, c_end)
            if cursor >= p_end:
                break
        if cursor < p_end:
            out.append((cursor, p_end, payload))
    return out


def _resolve_overrides(overrides: list[OverrideSpec]) -> list[tuple]:
    """Non-overlapping (start, end, override) pieces; later overrides win over earlier ones."""
    if not overrides:
        return []
    points = sorted({o.start for o in overrides} | {o.end for o in overrides})
    by_start = sorted(range(len(overrides)), key=lambda i: overrides[i].start)
    active: list[int] = []  # ranks of the overrides covering the current elementary interval
    nxt = 0
    pieces: list[list] = []
    for a, b in zip(points, points[1:], strict=False):
        while nxt < len(by_start) and overrides[by_start[nxt]].start <= a:
            active.append(by_start[nxt])
            nxt += 1
        active = [i for i in active if overrides[i].end >= b]
        if not active:
            continue
        winner = overrides[max(active)]
        if pieces and pieces[-1][2] is winner and pieces[-1][1] == a:
            pieces[-1][1] = b
        else:
            pieces.append([a, b, winner])
    return [tuple(p) for p in pieces]


def _relevant_overrides(overrides, start, end):
    """Overrides overlapping the window, plus those that can cut one of them."""
    direct = [o for o in overrides if o.end > start and o.start < end]
    if not direct:
        return []
    lo = min(o.start for o in direct)
    hi = max(o.end for o in direct)
    return [o for o in overrides if o.end > lo and o.start < hi]


def _by_start(shift: "Shift") -> dt.datetime:
    return shift.start


def compute_shifts(spec: ScheduleSpec, start: dt.datetime, end: dt.datetime) -> ScheduleShifts:
    """Shifts per layer id (overrides applied) overlapping [start, end), and gaps in it."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    tz = ZoneInfo(spec.time_zone)
    absent = spec.absent_user_ids
    shifts: dict[int, list[Shift]] = {}
    gaps: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    by_layer: dict[int, list[OverrideSpec]] = {}
    for o in spec.overrides:
        if o.user_id not in absent and o.end > o.start:
            by_layer.setdefault(o.layer_id, []).append(o)
    for layer in spec.layers:
        if end <= start:
            shifts[layer.id], gaps[layer.id] = [], []
            continue
        # Rotation shifts may extend beyond the window; take the whole ones that overlap it,
        # and every override that can cut them.
        rotation = _rotation_shifts(layer, tz, start, end)
        lo, hi = start, end
        if rotation:
            lo, hi = min(rotation[0][0], start), max(rotation[-1][1], end)
        windows = _active_windows(layer, tz, lo, hi)
        override_pieces = _resolve_overrides(
            _relevant_overrides(by_layer.get(layer.id, []), lo, hi)
        )
        cuts = [(s, e) for s, e, _ in override_pieces]
        window_ends = [e for _, e in windows]
        base = []
        for s, e, user_id in rotation:
            if user_id in absent:
                continue
            base.extend((ps, pe, user_id) for ps, pe in _intersect(s, e, windows, window_ends))
        result = [Shift(s, e, layer.id, u) for s, e, u in _subtract(base, cuts)]
        result.extend(Shift(s, e, layer.id, o.user_id, o.id) for s, e, o in override_pieces)
        result = [r for r in result if r.end > start and r.start < end]
        result.sort(key=_by_start)
        shifts[layer.id] = result
        covered = [(s.start, s.end) for s in result]
        wanted = [(max(s, start), min(e, end), None) for s, e in windows if e > start and s < end]
        gaps[layer.id] = [(s, e) for s, e, _ in _subtract(wanted, covered)]
    return ScheduleShifts(shifts=shifts, gaps=gaps)
