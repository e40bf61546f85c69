# Shared by run.sh and test.sh: make .venv and install the pinned requirements into it.
# Usage: source scripts/bootstrap.sh <requirements file>
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# One stamp per requirements file, so that run.sh and test.sh do not reinstall in turns.
stamp=".venv/.installed-$(basename "$1" .txt)-$(cat requirements.txt "$1" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$1"
  rm -f ".venv/.installed-$(basename "$1" .txt)"-* && touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
