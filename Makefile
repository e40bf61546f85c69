# Everyday verbs. `make run` and `make test` are the README's two commands.
.PHONY: run test lint format typecheck bench

run:
	./scripts/run.sh

test:
	./scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

typecheck:
	.venv/bin/mypy eventstore orders projections common config backoffice

bench:
	./scripts/bench.sh
