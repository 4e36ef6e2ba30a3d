"""Trigram indexes for the incident list's text search on PostgreSQL.

The list's search is ``title ILIKE %text% OR summary ILIKE %text%``, which Django writes as
``UPPER(col::text) LIKE UPPER(%text%)``. Without an index every search reads each incident of
the team's history; pg_trgm's GIN indexes on the same expressions let PostgreSQL read only the
incidents that contain the text. SQLite (the embedded default) keeps its plain scan.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

INDEXES = {
    "incident_title_trgm": 'UPPER("title"::text)',
    "incident_summary_trgm": 'UPPER("summary"::text)',
}


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        # pg_trgm is a trusted extension: the database's owner may create it without being a
        # superuser. Where that is refused, the search still works, only without the index.
        with transaction.atomic(using=connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        logger.warning("incident text search stays unindexed: pg_trgm unavailable (%s)", exc)
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "incidents_incident" '
            f"USING gin ({expression} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("incidents", "0005_list_indexes")]

    operations = [migrations.RunPython(create, drop)]
