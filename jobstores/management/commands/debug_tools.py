"""The source document's debug_tools.py, on Vigil's job stores or any Redis:

    manage.py debug_tools stale-jobs   [--age 300] [--target NAME | --redis-url URL] [--json]
    manage.py debug_tools kill-stale   [--age 300] [--target NAME | --redis-url URL] [--json]
    manage.py debug_tools analyze-conv --conv-id ID [--target NAME | --redis-url URL]
    manage.py debug_tools errors       [--stream errors] [--hours 1] [--source prometheus]

With --json, stdout holds one JSON document and nothing else (logs go to stderr). Without
it, the seed's lines. --target runs on a job store Vigil knows (its format and patterns; the
scan is recorded and a kill is in the audit trail and on the open incident's timeline);
--redis-url on any Redis this shell can reach (the seed's localhost by default).
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from jobstores import conversations, errors, redisconn, scanning, services
from jobstores.models import (
    DEFAULT_ERRORS_QUERY,
    JobFormat,
    JobStore,
    RunStatus,
    RunTrigger,
    redact_url,
)

COMMANDS = ["stale-jobs", "kill-stale", "analyze-conv", "errors"]
DEFAULT_REDIS_URL = "redis://localhost:6379/0"  # the seed's redis.Redis(host="localhost")


class Command(BaseCommand):
    help = "Debug production issues: stale jobs, kill them, analyse a conversation, errors."

    def add_arguments(self, parser):
        parser.add_argument("command", choices=COMMANDS)
        parser.add_argument("--age", type=int, default=None, help="Max age in seconds (300)")
        parser.add_argument("--conv-id", help="Conversation ID to analyze")
        parser.add_argument("--stream", default=None, help="Redis stream of errors (errors)")
        parser.add_argument("--hours", type=float, default=1.0, help="Error window in hours")
        parser.add_argument(
            "--source", choices=["stream", "prometheus"], default="stream", help="errors from"
        )
        parser.add_argument("--prometheus-url", default="", help="Prometheus for --source")
        parser.add_argument("--query", default="", help="PromQL for --source prometheus")
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--redis-url", help=f"Any Redis ({DEFAULT_REDIS_URL})")
        where.add_argument("--target", help="A job store's name in Vigil")
        parser.add_argument("--team", help="The target's team slug, when names repeat")
        parser.add_argument(
            "--format", choices=JobFormat.values, default=None, help="Job format (json)"
        )
        parser.add_argument("--pattern", default=None, help="Job key pattern (job:*)")
        parser.add_argument("--cluster", action="store_true", help="--redis-url is a cluster")
        parser.add_argument("--json", action="store_true", help="JSON on stdout, nothing else")

    def handle(self, *args, **options):
        self.as_json = options["json"]
        store = self._store(options)
        age = options["age"] or (store.stale_after_seconds if store else 300)
        if age <= 0:
            raise CommandError("--age must be a positive number of seconds.")
        command = options["command"]
        if command == "analyze-conv" and not options["conv_id"]:
            # The seed's message and exit code.
            self.stdout.write("Error: --conv-id required")
            sys.exit(1)
        try:
            if command == "stale-jobs":
                self._stale_jobs(store, options, age)
            elif command == "kill-stale":
                self._kill_stale(store, options, age)
            elif command == "analyze-conv":
                self._analyze(store, options)
            else:
                self._errors(store, options)
        except (redisconn.StoreUnavailable, services.JobStoreError) as exc:
            raise CommandError(str(exc)) from None

    # --- where --------------------------------------------------------------------------

    def _store(self, options):
        if not options["target"]:
            return None
        stores = JobStore.objects.select_related("team").filter(name=options["target"])
        if options["team"]:
            stores = stores.filter(team__slug=options["team"])
        found = list(stores[:2])
        if not found:
            raise CommandError(f"No job store named {options['target']!r}.")
        if len(found) > 1:
            raise CommandError(
                f"Several teams have a job store named {options['target']!r}: "
                "name the team with --team."
            )
        return found[0]

    def _connect(self, store, options):
        if store is not None:
            return redisconn.connect(store.redis_url, cluster=store.cluster)
        url = options["redis_url"] or DEFAULT_REDIS_URL
        # An operator on the server may read any Redis it can reach: the address rule is for
        # what people set in the browser.
        return redisconn.connect(url, cluster=options["cluster"], checked=False)

    def _format(self, store, options):
        return options["format"] or (store.format if store else JobFormat.SEED)

    def _pattern(self, store, options):
        return options["pattern"] or (store.job_pattern if store else "job:*")

    def _emit(self, data):
        self.stdout.write(json.dumps(data, indent=2, default=str))

    # --- commands -----------------------------------------------------------------------

    def _scan(self, store, options, age):
        if store is not None and not options["format"] and not options["pattern"]:
            run = services.scan_now(store=store, trigger=RunTrigger.CLI, max_age_seconds=age)
            if run.status == RunStatus.FAILED:
                raise CommandError("; ".join(run.errors))
            return {
                "stale_jobs": run.stale_jobs,
                "counts": run.counts,
                "keys_scanned": run.keys_scanned,
                "dbsize": run.dbsize,
                "duration_seconds": run.duration_seconds,
                "keys_per_second": run.keys_per_second,
                "errors": run.errors,
                "run_id": run.pk,
            }
        with self._connect(store, options) as conn:
            result = scanning.find_stale_jobs(
                conn,
                fmt=self._format(store, options),
                pattern=self._pattern(store, options),
                max_age_seconds=age,
                now=timezone.now(),
                visibility_timeout=store.visibility_timeout_seconds if store else 3600,
            )
        return result.as_dict()

    def _stale_jobs(self, store, options, age):
        found = self._scan(store, options, age)
        if self.as_json:
            self._emit(found)
            return
        jobs = found["stale_jobs"]
        self.stdout.write(f"Found {len(jobs)} stale jobs:")
        for job in jobs:
            self.stdout.write(f"  - {job['job_id']}: {job['age_seconds']}s old")
        for error in found["errors"]:
            self.stderr.write(f"warning: {error}")

    def _kill_stale(self, store, options, age):
        if store is not None and not options["format"] and not options["pattern"]:
            run = services.scan_now(store=store, trigger=RunTrigger.CLI, max_age_seconds=age)
            if run.status == RunStatus.FAILED:
                raise CommandError("; ".join(run.errors))
            if run.stale_count:
                result = services.kill_jobs(store=store, by=None)
            else:
                result = scanning.KillResult(killed=[], skipped=[], errors=[])
        else:
            found = self._scan(store, options, age)
            with self._connect(store, options) as conn:
                result = scanning.kill_stale_jobs(
                    conn,
                    jobs=found["stale_jobs"],
                    max_age_seconds=age,
                    now=timezone.now(),
                    fmt=self._format(store, options),
                )
        if self.as_json:
            self._emit(
                {
                    "killed": len(result.killed),
                    "job_ids": result.killed,
                    "skipped": result.skipped,
                    "errors": result.errors,
                }
            )
            return
        self.stdout.write(f"Killed {len(result.killed)} stale jobs")
        for skipped in result.skipped:
            self.stderr.write(f"left alone: {skipped['job_id']}: {skipped['reason']}")

    def _analyze(self, store, options):
        prefix = (store.conv_pattern.removesuffix("*") if store else "") or "conv:"
        with self._connect(store, options) as conn:
            analysis = conversations.analyze_conversation(
                conn.client, options["conv_id"], key_prefix=prefix
            )
        self._emit(analysis)

    def _errors(self, store, options):
        if options["source"] == "prometheus":
            url = options["prometheus_url"] or (store.prometheus_url if store else "")
            if not url:
                raise CommandError(
                    "--source prometheus needs --prometheus-url (or a --target "
                    "with a Prometheus URL)."
                )
            query = (
                options["query"] or (store.errors_query if store else "") or (DEFAULT_ERRORS_QUERY)
            )
            patterns = errors.prometheus_error_patterns(url, query)
            if "error" in patterns:
                patterns["error"] = patterns["error"].replace(url, redact_url(url))
        else:
            stream = options["stream"] or (store.errors_stream if store else "errors")
            with self._connect(store, options) as conn:
                patterns = errors.stream_error_patterns(
                    conn.client, stream, hours=options["hours"], now=timezone.now()
                )
        self._emit(patterns)
