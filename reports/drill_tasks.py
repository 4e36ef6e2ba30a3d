"""The drill schedule's tick: beat runs it every DRILL_SCHEDULE_TICK_SECONDS; it starts the
drills that are due and picks each schedule's next time."""

from celery import shared_task

from reports import drills


@shared_task(name="reports.drill_tasks.drill_schedule_tick")
def drill_schedule_tick() -> dict:
    return drills.schedules_tick()
