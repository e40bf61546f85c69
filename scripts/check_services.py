"""Fail fast, naming the service, when PostgreSQL or Redis cannot be reached."""

import os
import re
import sys

import psycopg
import redis


def shown(url: str) -> str:
    """The URL without its password: what is printed may end up in a log."""
    return re.sub(r"^([^:/]+://[^:@/]*:)[^@/]*@", r"\1***@", url)


def main() -> int:
    quiet = "--quiet" in sys.argv
    db_url = os.environ["DATABASE_URL"]
    try:
        psycopg.connect(db_url, connect_timeout=5).close()
    except psycopg.Error as exc:
        if not quiet:
            print(
                f"ERROR: PostgreSQL is not reachable at {shown(db_url)}: {exc}".strip(),
                file=sys.stderr,
            )
            print("Start it (pg_ctlcluster 15 main start) or set DATABASE_URL.", file=sys.stderr)
        return 2
    broker = os.environ["CELERY_BROKER_URL"]
    try:
        redis.Redis.from_url(broker, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        if not quiet:
            print(f"ERROR: Redis is not reachable at {shown(broker)}: {exc}", file=sys.stderr)
            print("Start redis-server or set TEST_REDIS_URL.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
