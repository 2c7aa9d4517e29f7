"""Where things live: user folders from platformdirs, and bundled resources in development or when frozen.

Nothing here creates a folder at import time; the functions create them on first use.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "sinsr-gui"
HOME_ENV = "SINSR_GUI_HOME"  # overrides every user folder (tests, portable installs)


def _user_dir(kind: str) -> Path:
    override = os.environ.get(HOME_ENV)
    if override:
        # A single root for everything: data (weights) at the root, the rest in sub-folders.
        path = Path(override) if kind == "data" else Path(override) / kind
    else:
        getter = {
            "data": platformdirs.user_data_dir,
            "config": platformdirs.user_config_dir,
            "log": platformdirs.user_log_dir,
            "cache": platformdirs.user_cache_dir,
        }[kind]
        path = Path(getter(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Per-user data folder (weights live in ``data_dir()/weights`` unless a setting says otherwise)."""
    return _user_dir("data")


def config_dir() -> Path:
    return _user_dir("config")


def log_dir() -> Path:
    return _user_dir("log")


def cache_dir() -> Path:
    return _user_dir("cache")


def resources_dir() -> Path:
    """The ``resources/`` folder: next to the package in development, inside the bundle when frozen."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(relative: str) -> Path:
    return resources_dir() / relative
