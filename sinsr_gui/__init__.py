"""SinSR desktop super-resolution: a 4x photo upscaler built on a one-step diffusion model."""

from __future__ import annotations


def _version() -> str:
    """The version, kept in one place: pyproject.toml. Installed (and frozen, whose spec copies the package
    metadata): from the metadata; a source tree that is not installed: from pyproject.toml itself."""
    from importlib import metadata

    try:
        return metadata.version("sinsr-gui")
    except metadata.PackageNotFoundError:
        pass
    import re
    from pathlib import Path

    try:
        text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return "0+unknown"
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else "0+unknown"


__version__ = _version()
