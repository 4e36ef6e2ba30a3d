"""Garbage collector settings for web processes (vigil/asgi.py, vigil/wsgi.py).

A loaded Vigil process holds ~130,000 long-lived objects (Django, URLs, templates, libraries).
With CPython's defaults every full collection re-scans all of them, 40-60 ms on a 2-core
machine, in the middle of whatever request triggered it; and an incident page triggered a
young collection every few hundred allocations. Freezing what startup loaded takes it out of
every collection, and a larger first threshold lets a request's short-lived objects die by
reference counting first. Reference cycles are still collected, only less often.
"""

import gc

YOUNG_THRESHOLD = 10_000  # CPython's default is 700


def settle_web_process() -> None:
    """Call once the application is loaded, before it serves requests."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
