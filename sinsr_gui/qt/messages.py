"""How the app says what to do: each :class:`~sinsr_gui.errors.Remedy` in the words of the window (menus,
buttons, settings), and the one sentence shown for any error.

The terminal has its own phrasebook (``sinsr_gui.cli.messages``, which names commands); the engine's
messages name neither. The menu paths below are the window's real ones (a test checks them).
"""

from __future__ import annotations

from sinsr_gui.errors import Cancelled, Remedy, UserError

CANCELLED = "Cancelled."
GET_MODEL = "Model > Get the SinSR model…"
SHOW_LOG = "Help > Show log folder"
SAVE_TO = "Settings > Save to"


def _smaller_tile(device_type: str) -> str:
    other = "" if device_type == "cpu" else ", or choose Settings > Device: CPU"
    return f"Choose a smaller Settings > Tile size (e.g. 64 px){other}."


PHRASES = {
    "get_weights": lambda t: f"Download the model files with {GET_MODEL}",
    "accept_licence": lambda t: f"Accept the licence in {GET_MODEL}, then press Download.",
    "verify_weights": lambda t: f"Import the file again with {GET_MODEL}",
    "retry_download": lambda t: (f"Press Resume download in {GET_MODEL} later, or import a copy you already "
                                 "have there."),
    "reinstall_app": lambda t: "Reinstall the app.",
    "free_disk_space": lambda t: f"Free some disk space, or choose another folder in {SAVE_TO}.",
    "choose_output_folder": lambda t: f"Choose another folder in {SAVE_TO}.",
    "choose_other_file": lambda t: "Check the file, or take it out with Queue > Remove from queue.",
    "smaller_tile": _smaller_tile,
    "choose_device": lambda t: "Choose another Settings > Device.",
    "see_log": lambda t: f"The details are in {SHOW_LOG}.",
    "upscale_again": lambda t: "Upscale it again with Queue > Retry.",
    "raise_pixel_limit": lambda t: "Make it smaller in a photo editor first.",
}


def phrase(remedy: Remedy | None) -> str:
    """The remedy as a sentence naming the menu, button or setting to use ("" for none)."""
    return "" if remedy is None else PHRASES[remedy.action](remedy.target)


def with_remedy(message: str, remedy: Remedy | None) -> str:
    return f"{message} {phrase(remedy)}".strip()


def user_message(exc: BaseException) -> str:
    """The sentence shown for ``exc``: a :class:`UserError`'s own words and remedy; otherwise a plain
    explanation, and for the unexpected, where the details are (the traceback goes to the log)."""
    if isinstance(exc, Cancelled):
        return CANCELLED
    if isinstance(exc, UserError):
        return with_remedy(str(exc), exc.remedy)
    if isinstance(exc, MemoryError):
        return ("The computer ran out of memory. Close other programs, choose a smaller Settings > Tile size, "
                "or upscale a smaller photo.")
    if isinstance(exc, OSError) and exc.strerror:
        name = f' "{exc.filename}"' if exc.filename else ""
        return f"A file operation failed{name}: {exc.strerror}. Check the disk and the folder's permissions."
    return f"Something unexpected went wrong ({type(exc).__name__}). The details are in {SHOW_LOG}."
