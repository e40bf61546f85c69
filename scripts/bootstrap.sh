# Shared by run.sh, serve.sh and test.sh: make the virtualenv and install the pinned
# requirements into it.
# Usage: source scripts/bootstrap.sh <requirements file>
#   ORDERS_VENV  the virtualenv (default .venv); the production test points it at one that
#                holds requirements.txt and nothing else (tests/ops/production.py)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
venv=${ORDERS_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  "$PY" -m venv "$venv"
fi
# One stamp per requirements file, so that run.sh and test.sh do not reinstall in turns.
stamp="$venv/.installed-$(basename "$1" .txt)-$(cat requirements.txt "$1" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r "$1"
  rm -f "$venv/.installed-$(basename "$1" .txt)"-* && touch "$stamp"
fi
venv=$(cd "$venv" && pwd)
export PATH="$venv/bin:$PATH"
