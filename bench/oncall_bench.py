"""Benchmark: computing a year of on-call shifts. Prints its figures.

    .venv/bin/python bench/oncall_bench.py

A schedule in Europe/Berlin with 4 layers of 10 members each and 200 overrides (random
windows of 1 hour to 3 days spread over the year, on random layers), one year window.
It times oncall.shifts.compute_shifts (the one function that answers "who is on call")
for weekly rotations (the seed's cadence), daily rotations and a business-hours layer mix,
p50/p95 over repeated runs. Target: under 50 ms for the year.
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vigil.settings")

from oncall.shifts import LayerSpec, OverrideSpec, ScheduleSpec, compute_shifts  # noqa: E402

UTC = dt.UTC
START = dt.datetime(2026, 1, 1, tzinfo=UTC)
END = START + dt.timedelta(days=365)


def build(cadence: str, *, business_hours: bool = False, seed: int = 7) -> ScheduleSpec:
    rng = random.Random(seed)
    layers = tuple(
        LayerSpec(
            id=i + 1,
            name=f"Layer {i + 1}",
            position=i,
            members=tuple(range(i * 10 + 1, i * 10 + 11)),
            start_date=dt.date(2025, 12, 1),
            handoff_time=dt.time(9, 0),
            handoff_weekday=0,
            cadence=cadence,
            restriction="business_hours" if business_hours and i % 2 else "none",
        )
        for i in range(4)
    )
    overrides = []
    for j in range(200):
        start = START + dt.timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        overrides.append(
            OverrideSpec(
                id=j + 1,
                layer_id=rng.randint(1, 4),
                user_id=rng.randint(1, 40),
                start=start,
                end=start + dt.timedelta(minutes=rng.randrange(60, 3 * 24 * 60)),
            )
        )
    return ScheduleSpec(time_zone="Europe/Berlin", layers=layers, overrides=tuple(overrides))


def measure(spec: ScheduleSpec, runs: int) -> tuple[float, float, int]:
    compute_shifts(spec, START, END)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = compute_shifts(spec, START, END)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    shifts = sum(len(v) for v in result.shifts.values())
    return statistics.median(times), times[int(len(times) * 0.95) - 1], shifts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    print(f"compute_shifts, 1 year, 4 layers x 10 members, 200 overrides, {args.runs} runs")
    for label, spec in [
        ("weekly rotations", build("weekly")),
        ("daily rotations", build("daily")),
        ("weekly, 2 business-hours layers", build("weekly", business_hours=True)),
    ]:
        p50, p95, shifts = measure(spec, args.runs)
        verdict = "OK" if p95 < 50 else "OVER TARGET"
        print(f"  {label:34s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({shifts} shifts)  {verdict}")


if __name__ == "__main__":
    main()
