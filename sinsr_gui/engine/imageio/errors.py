"""The two errors a user can meet while reading or saving a photo.

``str(err)`` is one sentence for the user that names the file and says what to do; ``path`` is for the log.
"""

from __future__ import annotations

from pathlib import Path

from sinsr_gui.errors import Remedy, UserError


class _ImageFileError(UserError):
    def __init__(self, message: str, *, path: Path | None = None, remedy: Remedy | None = None) -> None:
        super().__init__(message, remedy)
        self.path = path


class ImageReadError(_ImageFileError):
    """A file could not be read as an image. ``str(err)`` is one sentence for the user; ``path`` for the log."""


class ImageWriteError(_ImageFileError):
    """A result could not be saved. ``str(err)`` is one sentence for the user; ``path`` for the log."""
