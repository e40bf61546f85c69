"""A virtualenv with requirements.txt and nothing else: what production installs.

The test virtualenv has the development tools too, and they bring packages the service may
import without declaring them (kombu's Redis transport needed ``packaging``, which only a test
tool pulled in). Processes started from this one prove that requirements.txt alone runs them.

It is made by scripts/bootstrap.sh (as serve.sh makes .venv) once per version of
requirements.txt and of Python, in the user's cache directory, so that later runs, other
checkouts and CI runs on the same machine reuse it; a lock keeps two runs from making the same
one at once. Versions not used for a week are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNUSED_FOR_SECONDS = 7 * 24 * 3600
INSTALL_TIMEOUT_SECONDS = 900


def cache_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("PRODUCTION_VENV_CACHE") or Path(base) / "orders-service")


def production_venv() -> Path:
    """The requirements-only virtualenv for this requirements.txt, made if missing."""
    requirements = (ROOT / "requirements.txt").read_bytes()
    key = hashlib.sha256(requirements + sys.version.encode()).hexdigest()[:16]
    cache = cache_directory()
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / f"prod-venv-{key}"
    with (cache / "prod-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _install(venv)
        (venv / ".used").touch()
        _remove_unused(cache, keep=venv)
    return venv


def _install(venv: Path) -> None:
    """bootstrap.sh, which installs only when its stamp for requirements.txt is missing."""
    result = subprocess.run(
        ["bash", "-c", "source scripts/bootstrap.sh requirements.txt"],
        cwd=ROOT,
        env={**os.environ, "ORDERS_VENV": str(venv), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"installing requirements.txt failed:\n{result.stderr[-4000:]}"
    # Nothing of the development tools: else the proof proves nothing.
    leaked = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import pytest"], capture_output=True, check=False
    )
    assert leaked.returncode != 0, f"{venv} has more than requirements.txt (pytest)"


def _remove_unused(cache: Path, *, keep: Path) -> None:
    for other in cache.glob("prod-venv-*"):
        used = other / ".used"
        if other == keep or not other.is_dir():
            continue
        with contextlib.suppress(FileNotFoundError):
            if time.time() - used.stat().st_mtime < UNUSED_FOR_SECONDS:
                continue
        shutil.rmtree(other, ignore_errors=True)
