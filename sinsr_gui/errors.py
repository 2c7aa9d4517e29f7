"""Errors a user can meet, and what to do about them.

Every error meant for a user is a :class:`UserError`: its message is one sentence saying what went wrong, in
words that fit every front-end (no command lines, no menu paths), and its optional :class:`Remedy` says what
to do as a structured value. Each front-end phrases the remedy in its own words: the terminal names a
command (``sinsr_gui.cli_messages``), the app names a menu or a button (``sinsr_gui.qt.messages``).

A :class:`Cancelled` is not an error: the user asked for it, so front-ends report it quietly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Remedy:
    """What the user can do next. ``action`` is one of :data:`REMEDY_ACTIONS`; ``target`` names the thing
    it applies to (a weights name such as ``"sinsr_v1"``, a folder), or is empty."""

    action: str
    target: str = ""

    def __post_init__(self) -> None:
        if self.action not in REMEDY_ACTIONS:
            raise ValueError(f"unknown remedy action {self.action!r}")


# The remedies the front-ends know how to phrase. Adding one means phrasing it in both front-ends (a test
# checks that every action has a phrase in each).
REMEDY_ACTIONS = (
    "get_weights",  # download or import the weights named by target (comma-separated names)
    "accept_licence",  # accept the licence of the weights named by target, then download
    "verify_weights",  # check the installed file named by target again
    "retry_download",  # try again later (resumes), or use a mirror, or import a copy
    "reinstall_app",  # a file that ships with the app is damaged
    "free_disk_space",  # on the drive of target
    "choose_output_folder",  # the output folder (target) cannot be written
    "choose_other_file",  # the input cannot be used; pick another file
    "smaller_tile",  # out of memory: a smaller tile size, or another device
    "choose_device",  # the chosen device is not available
    "see_log",  # an unexpected failure: the details are in the log
    "upscale_again",  # the result is no longer in memory and its saved copy is lossy: run it again
    "raise_pixel_limit",  # the photo is larger than the decompression-bomb guard allows
)


class UserError(Exception):
    """An error whose message is meant for the user: one clear sentence, plus an optional remedy."""

    def __init__(self, message: str, remedy: Remedy | None = None) -> None:
        super().__init__(message)
        self.remedy = remedy

    @property
    def message(self) -> str:
        return str(self)


class Cancelled(Exception):
    """The user stopped the work; nothing partial was kept."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)
