"""Migration 0006 where PostgreSQL refuses pg_trgm: it warns and lets migrate go on."""

import importlib
import logging
import uuid

import psycopg
import pytest
from django.db import connection, connections

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]

migration = importlib.import_module("incidents.migrations.0006_text_search_trigram")


def _admin(settings_dict, dbname):
    return psycopg.connect(
        host=settings_dict["HOST"] or None,
        port=settings_dict["PORT"] or None,
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    )


@pytest.fixture
def database_without_extension_rights():
    """A scratch database and a role that may connect to it but not create extensions."""
    base = connection.settings_dict
    suffix = uuid.uuid4().hex[:8]
    name, role = f"vigil_noext_{suffix}", f"vigil_noext_{suffix}"
    with _admin(base, "postgres") as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**base, "NAME": name, "USER": role, "PASSWORD": ""}, name
    finally:
        with _admin(base, "postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_refused_pg_trgm_is_a_warning_and_the_migration_goes_on(
    database_without_extension_rights, caplog
):
    settings_dict, name = database_without_extension_rights
    wrapper = type(connections["default"])
    limited = wrapper({**connection.settings_dict, **settings_dict}, alias="noext")
    connections["noext"] = limited  # the migration's savepoint looks its connection up by alias
    try:
        with caplog.at_level(logging.WARNING), limited.schema_editor() as editor:
            migration.create(None, editor)
        with limited.cursor() as cursor:  # the transaction is still usable afterwards
            cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
            assert cursor.fetchone()[0] == 0
    finally:
        limited.close()
        del connections["noext"]
    assert "incident text search stays unindexed: pg_trgm unavailable" in caplog.text
    assert "permission denied" in caplog.text
