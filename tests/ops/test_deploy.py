"""Production settings: `check --deploy` passes, the app serves its static files itself, and every
way to deploy it runs the same processes."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "orders.example.com",
}


def check_deploy(**overrides: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **PRODUCTION_ENV, **overrides}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_passes_with_production_variables() -> None:
    result = check_deploy()

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (1 silenced)." in result.stdout


def test_check_deploy_fails_when_https_is_turned_off() -> None:
    result = check_deploy(DJANGO_SECURE_SSL_REDIRECT="false", DJANGO_SESSION_COOKIE_SECURE="false")

    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W012" in result.stderr


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """collectstatic with the production storage (hashed names, compressed) into a temp dir."""
    root = tmp_path_factory.mktemp("static")
    storage = "whitenoise.storage.CompressedManifestStaticFilesStorage"
    with override_settings(
        STATIC_ROOT=root,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": storage},
        },
    ):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield root


@pytest.mark.django_db
def test_with_debug_off_the_admin_and_api_docs_get_their_assets(
    collected: Path, client: Client
) -> None:
    # pytest-django runs tests with DEBUG off, as production does.
    admin = client.get("/admin/login/")
    docs = client.get("/api/docs/")

    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', admin.content.decode())
    assets += re.findall(r'(?:href|src)="(/static/[^"]+)"', docs.content.decode())
    assert admin.status_code == docs.status_code == 200
    assert any(a.endswith(".css") for a in assets)
    assert any("swagger-ui-bundle" in a for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        # Hashed names never change content: cached for good.
        assert "max-age=315360000" in response["Cache-Control"], asset
        assert b"".join(response.streaming_content)  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_an_unknown_static_file_is_404(collected: Path, client: Client) -> None:
    assert client.get("/static/admin/css/nothing-here.css").status_code == 404


@pytest.mark.django_db
def test_the_benchmark_baseline_view_is_not_routed_in_production(client: Client) -> None:
    # bench.urls adds it for bench.web's server only; config.urls must never reach it.
    assert client.post("/bench/raw-insert", {}, content_type="application/json").status_code == 404


def test_celery_workers_publish_task_events_and_overlong_tasks_are_killed() -> None:
    from config.celery import app

    assert app.conf.worker_send_task_events and app.conf.task_send_sent_event
    assert app.conf.task_time_limit == 600
    # No soft limit: raised inside a batch it would be taken for the event's failure.
    assert app.conf.task_soft_time_limit is None
    assert app.conf.worker_hijack_root_logger is False


def _shape(command: str) -> list[str]:
    """A process's command with the values that differ by platform (where beat keeps its
    schedule, how many worker processes) left out: what must be the same everywhere."""
    words = shlex.split(command.replace('"', ""))
    return [
        "<value>" if before in ("--schedule", "--concurrency") else word
        for before, word in zip(["", *words], words, strict=False)
    ]


def test_procfile_compose_serve_and_the_image_run_the_same_four_processes() -> None:
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    serve = (ROOT / "scripts" / "serve.sh").read_text()
    started_by_serve = [
        _shape(line.removesuffix("&")) for line in serve.splitlines() if line.endswith(" &")
    ]
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert set(procfile) == {"release", "web", "worker", "integrations", "beat"}
    for process in ("web", "worker", "integrations", "beat"):
        assert _shape(procfile[process]) == _shape(compose[process]["command"]), process
        assert _shape(procfile[process]) in started_by_serve, process
    assert len(started_by_serve) == 4
    # The image installs requirements.txt and nothing else, and runs the web process.
    assert re.findall(r"pip install .*", dockerfile) == [
        "pip install --no-cache-dir -r requirements.txt"
    ]
    cmd = re.search(r"^CMD (.+)$", dockerfile, re.MULTILINE)
    assert cmd is not None and " ".join(json.loads(cmd.group(1))) == procfile["web"]
