"""Small wording helpers shared by the views and controllers: counts, clocks and durations (sizes:
``sinsr_gui.weights.store.format_size``)."""

from __future__ import annotations

import math


def count(n: int, noun: str) -> str:
    """'1 photo', '3 photos'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def clock(seconds: float) -> str:
    """'0:42', '12:05', '1:02:03'."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def format_duration(seconds: float | None) -> str:
    """'about 40 s', 'about 3 min', 'about 1 h 20 min': rounded, because estimates are not precise."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    if seconds < 10:
        return f"about {max(1, round(seconds))} s"
    if seconds < 55:
        return f"about {round(seconds / 5) * 5} s"
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"


def took(seconds: float) -> str:
    """A measured duration: '3 s', '2 min' (format_duration without the 'about')."""
    return format_duration(seconds).replace("about ", "")
