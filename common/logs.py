"""structlog wiring: console lines in development, JSON lines in production.

Both structlog loggers and the standard library's (Django, Celery) go through one
ProcessorFormatter, so every line carries the bound context (request_id, incident_id, ...).
Secrets that travel in a URL path are cut short in every line that could carry the path.
"""

import logging.config
import re

import structlog

# The path segment after each prefix is a credential (alerts_webhook_token, oncall_feed,
# paging_ack_link, paging_voice_ack); tests/test_secrets_redacted.py checks each route.
_SECRET_IN_PATH = re.compile(
    r"(/alerts/webhook/[0-9A-Fa-f-]{36}/|/oncall/feeds/|/paging/(?:ack|voice)/)([^/?#\s\"']+)"
)
# Loggers that write request paths with their own handlers or before a line is formatted.
REQUEST_PATH_LOGGERS = ("django.request", "django.server", "uvicorn.access")


def redact_secret_paths(text: str) -> str:
    """`/oncall/feeds/Xk3Jq…`: the first four characters tell lines apart, not the secret."""
    return _SECRET_IN_PATH.sub(lambda m: f"{m[1]}{m[2][:4]}…", text)


def _redacted(value):
    return redact_secret_paths(value) if isinstance(value, str) else value


class SecretPathFilter(logging.Filter):
    """Redacts a record's message and arguments in place, so whichever handler writes it
    (ours, uvicorn's or gunicorn's access log, pytest's) never sees the secret."""

    def filter(self, record):
        record.msg = _redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(arg) for key, arg in record.args.items()}
        return True


def redact_event(logger, method_name, event_dict):
    """SecretPathFilter's twin for every line our formatter writes: structlog events' values
    and the tracebacks of any logger's records."""
    return {key: _redacted(value) for key, value in event_dict.items()}


_SECRET_PATH_FILTER = SecretPathFilter()


def configure_logging(*, fmt: str, level: str) -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        redact_event,
                        renderer,
                    ],
                    "foreign_pre_chain": shared,
                }
            },
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                "django.db.backends": {"level": "WARNING"},
                "django.server": {"level": "WARNING"},
                # At DEBUG the template engine logs each missing variable with the repr of
                # the whole context: queries for lazy relations, and CSRF tokens in the log.
                "django.template": {"level": "INFO"},
            },
        }
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    for name in REQUEST_PATH_LOGGERS:
        logging.getLogger(name).addFilter(_SECRET_PATH_FILTER)
