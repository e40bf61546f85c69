"""The benchmark server's settings: the production settings plus the bare baseline view's URL."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
