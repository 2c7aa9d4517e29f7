"""Check that the installed packages satisfy the project's own requirements (``[project] dependencies``).

A PyInstaller bundle takes whatever the build environment holds, so a release the project excludes (such as
PySide6-Essentials 6.12.0, which aborts long sessions: docs/packaging.md) would ship unnoticed. ``pip check``
cannot tell: it also reports spandrel's torchvision, which this project installs without on purpose.

Usage: python scripts/check_requirements.py [pyproject.toml]. Prints one line per unmet requirement and exits 1,
or prints "requirements met" and exits 0. Uses the interpreter that runs it.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli (pytest depends on it there)
    import tomli as tomllib


def unmet_requirements(pyproject: Path) -> list[str]:
    """Each requirement of ``pyproject`` this environment does not meet, with what is installed instead."""
    with pyproject.open("rb") as fh:
        dependencies = tomllib.load(fh)["project"]["dependencies"]
    unmet = []
    for line in dependencies:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # not for this platform or Python
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            unmet.append(f"{requirement}: not installed")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            unmet.append(f"{requirement}: {installed} is installed")
    return unmet


def main(argv: list[str]) -> int:
    pyproject = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "pyproject.toml"
    unmet = unmet_requirements(pyproject)
    for line in unmet:
        print(f"unmet requirement {line}")
    if not unmet:
        print("requirements met")
    return 1 if unmet else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
