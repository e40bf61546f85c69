"""Fail fast, naming the service, when PostgreSQL or Redis cannot be reached."""

import os
import sys

import psycopg
import redis


def main() -> int:
    quiet = "--quiet" in sys.argv
    db_url = os.environ["DATABASE_URL"]
    try:
        psycopg.connect(db_url, connect_timeout=5).close()
    except psycopg.Error as exc:
        if not quiet:
            print(f"ERROR: PostgreSQL is not reachable at {db_url}: {exc}".strip(), file=sys.stderr)
            print("Start it (pg_ctlcluster 15 main start) or set DATABASE_URL.", file=sys.stderr)
        return 2
    broker = os.environ["CELERY_BROKER_URL"]
    try:
        redis.Redis.from_url(broker, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        if not quiet:
            print(f"ERROR: Redis is not reachable at {broker}: {exc}", file=sys.stderr)
            print("Start redis-server or set TEST_REDIS_URL.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
