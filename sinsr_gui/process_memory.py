"""Peak resident memory of a block of code, on Linux: the one place that reads ``/proc/self/status``.

:class:`PeakRSS` resets the kernel's high-water mark (``VmHWM``) to the current RSS through
``/proc/self/clear_refs`` on entry and reports how far the high-water mark rose above the entry RSS. Torch-free,
so the encoder benchmark and fresh-process probes can use it without importing torch. Elsewhere (no ``/proc``)
the values are None.
"""

from __future__ import annotations

import contextlib
import ctypes


def release_freed_memory() -> None:
    """Hand memory that was freed but kept by the C allocator back to the system (glibc's ``malloc_trim``), so
    that a :class:`PeakRSS` started next measures from what is really in use; nothing elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def status_bytes(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ...) in bytes; None where there is none."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


class PeakRSS:
    """``with PeakRSS() as peak: ...`` then ``peak.peak_bytes``: the rise of the peak RSS above the RSS at entry."""

    def __init__(self) -> None:
        self.start_bytes: int | None = None
        self.peak_bytes: int | None = None

    def __enter__(self) -> PeakRSS:
        with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        self.start_bytes = status_bytes("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        hwm = status_bytes("VmHWM")
        self.peak_bytes = None if hwm is None or self.start_bytes is None else hwm - self.start_bytes
