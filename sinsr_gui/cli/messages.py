"""How the terminal says what to do: each :class:`~sinsr_gui.errors.Remedy` as a command to type."""

from __future__ import annotations

from sinsr_gui.errors import Remedy, UserError


def _get_weights(target: str) -> str:
    names = [n for n in target.split(",") if n]
    downloads = " and ".join(f"`sinsr-upscale weights download {n} --accept-license`" for n in names)
    what = "the model file" if len(names) == 1 else "the model files"
    return (f"Download {what} with {downloads}, or import copies you already have with "
            "`sinsr-upscale weights import PATH`.")


PHRASES = {
    "get_weights": _get_weights,
    "accept_licence": lambda t: f"Read the licence, then run `sinsr-upscale weights download {t} --accept-license`.",
    "verify_weights": lambda t: f"Check it with `sinsr-upscale weights verify {t}`.",
    "retry_download": lambda t: ("Run the same command again later to resume, set SINSR_GUI_MIRROR to a mirror, "
                                 f"or import a copy with `sinsr-upscale weights import PATH --as {t}`."),
    "reinstall_app": lambda t: "Reinstall the app (`pip install --force-reinstall sinsr-gui`).",
    "free_disk_space": lambda t: "Free some disk space, or choose another folder with -o.",
    "choose_output_folder": lambda t: "Choose another output folder with -o.",
    "choose_other_file": lambda t: "Check the file, or leave it out of the `sinsr-upscale` command.",
    "smaller_tile": lambda t: "Try a smaller --tile (e.g. --tile 64), or --device cpu.",
    "choose_device": lambda t: "Choose another device with --device (e.g. --device cpu).",
    "see_log": lambda t: "Run again with --verbose for details.",
    "upscale_again": lambda t: "Run `sinsr-upscale` on the original photo again.",
    "raise_pixel_limit": lambda t: "If the computer has the memory, allow it with --max-megapixels (e.g. 300).",
}


def phrase(remedy: Remedy | None) -> str:
    """The remedy as a sentence naming the command to run ("" for none)."""
    return "" if remedy is None else PHRASES[remedy.action](remedy.target)


def describe_error(exc: BaseException) -> str:
    """One line for the terminal: the error's sentence plus, for a UserError, what to type next."""
    text = str(exc)
    if isinstance(exc, UserError) and exc.remedy is not None:
        text = f"{text} {phrase(exc.remedy)}"
    return text
