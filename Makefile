# Everyday verbs. `make run` and `make test` are the README's two commands.
.PHONY: run serve test lint format typecheck bench mutation

run:
	./scripts/run.sh

# web (gunicorn) + Celery worker + beat on PostgreSQL and Redis, as in production
serve:
	./scripts/serve.sh

test:
	./scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

typecheck:
	.venv/bin/mypy eventstore orders projections common config ops backoffice

bench:
	./scripts/bench.sh

# mutmut on orders/domain/ and eventstore/store.py (slow; docs/mutation.md)
mutation:
	./scripts/mutation.sh all
