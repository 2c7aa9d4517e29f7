"""Each front-end phrases every remedy in its own words: the terminal names commands and flags, the app names
menus, buttons and settings (tests/test_qt_app.py checks those exist in the window)."""

from __future__ import annotations

import re

import pytest

from sinsr_gui.cli import messages as cli
from sinsr_gui.errors import REMEDY_ACTIONS, Cancelled, Remedy, UserError
from sinsr_gui.qt import messages as app

TARGETS = ("", "sinsr_v1,vq_f4", "sinsr_v1", "cpu", "cuda", "/tmp/out")
COMMAND_OR_FLAG = re.compile(r"`[^`]+`|(?<![\w-])--?[a-z][\w-]*")


def test_every_remedy_has_a_phrase_in_both_front_ends():
    assert set(cli.PHRASES) == set(REMEDY_ACTIONS)
    assert set(app.PHRASES) == set(REMEDY_ACTIONS)


@pytest.mark.parametrize("action", REMEDY_ACTIONS)
def test_the_app_names_no_commands_and_the_terminal_always_does(action):
    for target in TARGETS:
        remedy = Remedy(action, target)
        said = app.phrase(remedy)
        assert said and "sinsr-upscale" not in said and "--" not in said and "`" not in said, said
        typed = cli.phrase(remedy)
        assert COMMAND_OR_FLAG.search(typed), f"the terminal's phrase for {action} names no command: {typed!r}"


def test_user_message_is_one_clear_sentence_for_any_error():
    assert app.user_message(Cancelled()) == app.CANCELLED
    error = UserError("The SinSR weights are not installed.", Remedy("get_weights", "sinsr_v1,vq_f4"))
    assert app.user_message(error) == f"The SinSR weights are not installed. Download the model files with {app.GET_MODEL}"
    assert app.user_message(UserError("Plain.")) == "Plain."

    from sinsr_gui.engine.imageio import ImageReadError  # any UserError subclass: no list of classes

    assert app.user_message(ImageReadError('Cannot read "x.png".', remedy=Remedy("choose_other_file"))).startswith(
        'Cannot read "x.png". Check the file')
    assert "Tile size" in app.user_message(MemoryError())
    assert app.user_message(PermissionError(13, "Permission denied", "/x/y.png")) == (
        'A file operation failed "/x/y.png": Permission denied. Check the disk and the folder\'s permissions.')
    unexpected = app.user_message(ZeroDivisionError("a bug"))
    assert "ZeroDivisionError" in unexpected and app.SHOW_LOG in unexpected and "a bug" not in unexpected


def test_a_smaller_tile_is_the_only_advice_on_the_cpu():
    assert "Device" not in app.phrase(Remedy("smaller_tile", "cpu"))
    assert "Device: CPU" in app.phrase(Remedy("smaller_tile", "cuda"))
