"""Small wording helpers shared by the views and controllers: counts, clocks and durations (estimates are worded
by ``sinsr_gui.engine.speed.format_duration``, which the command line shares; sizes by
``sinsr_gui.weights.store.format_size``)."""

from __future__ import annotations

from sinsr_gui.engine.speed import format_duration

__all__ = ["clock", "count", "format_duration", "took"]


def count(n: int, noun: str) -> str:
    """'1 photo', '3 photos'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def clock(seconds: float) -> str:
    """'0:42', '12:05', '1:02:03'."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def took(seconds: float) -> str:
    """A measured duration: '3 s', '2 min' (format_duration without the 'about')."""
    return format_duration(seconds).replace("about ", "")
