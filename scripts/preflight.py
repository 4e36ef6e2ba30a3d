"""Fail at once, naming the service, when PostgreSQL or Redis is not reachable for the tests."""

import sys

import psycopg
import redis


def main(database_url: str, redis_url: str) -> int:
    problems = []
    try:
        # The suite creates its own test database; reaching the server is what matters.
        info = psycopg.conninfo.conninfo_to_dict(
            database_url.replace("postgres://", "postgresql://", 1)
        )
        psycopg.connect(**{**info, "dbname": "postgres"}, connect_timeout=3).close()
    except psycopg.Error as exc:
        problems.append(
            f"PostgreSQL is not reachable at {database_url}: {exc}\n"
            "  Start it (e.g. `docker compose up -d db`, or your system's service) or set "
            "DATABASE_URL."
        )
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        problems.append(
            f"Redis is not reachable at {redis_url}: {exc}\n"
            "  Start it (e.g. `docker compose up -d redis`) or set REDIS_URL."
        )
    for problem in problems:
        sys.stderr.write(problem + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
