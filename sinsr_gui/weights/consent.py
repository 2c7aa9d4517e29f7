"""Licence consent: the official weights are non-commercial, so the user must accept a licence before the
first download of any file under it. The answer is remembered per licence in the user config folder."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import atomic, paths
from ..errors import Remedy
from .registry import WeightSpec
from .store import WeightsError

CONSENT_FILE = "licence_consent.json"

Prompt = Callable[[str], bool]


class ConsentRequired(WeightsError):
    """The licence of an entry has not been accepted, and there was no way to ask."""


def licence_text(spec: WeightSpec) -> str:
    """The text shown before asking for consent (CLI prompt, GUI dialog)."""
    return (
        f"The {spec.display_name} ({spec.name}) is published under the {spec.license_name} licence:\n"
        f"  {spec.license_summary}\n"
        f"  Full text: {spec.license_url}\n"
        "Downloading it means you accept this licence."
    )


class ConsentBook:
    """The accepted licences, stored as JSON (``{licence name: {url, accepted_at}}``).

    Keyed by licence, not by file: accepting S-Lab 1.0 once covers every file under it.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else paths.config_dir() / CONSENT_FILE
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # unreadable means "not accepted": the worst case is asking again
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        # atomically: a torn file reads as "nothing accepted" and would lose every other licence's consent
        atomic.atomic_write_text(self.path, json.dumps(data, indent=2))

    def has_accepted(self, spec: WeightSpec) -> bool:
        return spec.license_name in self._read()

    def accept(self, spec: WeightSpec) -> None:
        with self._lock:
            data = self._read()
            data[spec.license_name] = {
                "url": spec.license_url,
                "accepted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "first_for": spec.name,
            }
            self._write(data)

    def revoke(self, spec: WeightSpec) -> None:
        with self._lock:
            data = self._read()
            if data.pop(spec.license_name, None) is not None:
                self._write(data)


def ensure_consent(
    spec: WeightSpec, accept: bool = False, prompt: Prompt | None = None, *, book: ConsentBook | None = None
) -> None:
    """Make sure the user accepted ``spec``'s licence, asking if needed; remember a yes.

    Already accepted: returns. ``accept=True`` (e.g. ``--accept-license``): records and returns. Otherwise
    ``prompt(licence_text(spec))`` is asked; a yes is recorded. No prompt, or a no: :class:`ConsentRequired`.
    """
    book = book if book is not None else ConsentBook()
    if book.has_accepted(spec):
        return
    if accept or (prompt is not None and prompt(licence_text(spec))):
        book.accept(spec)
        return
    raise ConsentRequired(
        f"The {spec.display_name} is licensed under {spec.license_name} "
        f"({spec.license_summary.rstrip('.')}; {spec.license_url}); it is downloaded only once you accept it.",
        Remedy("accept_licence", spec.name),
    )
