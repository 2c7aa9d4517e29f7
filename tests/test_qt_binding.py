"""The Qt binding keeps Python's reference counts.

PySide6 6.12.0 returns True from ``Signal.emit()`` and None from several calls (``QObject.sender()``,
``setObjectName()``, ``QTimer.singleShot()``, a queued delivery) without taking a reference to it. Before Python
3.12, True and None are counted like any object, so every such call costs one reference for good. The app emits
a few signals per tile; with about 11,000 references to True once the app is imported (measured with torch 2.13,
Python 3.11.7), a long session ends in "Fatal Python error: bool_dealloc" and loses the queue. pyproject.toml
excludes that release; these tests fail on any installed binding that does the same.

On Python 3.12 and later, True, None and False are immortal and their counts never move: the tests pass, as the
bug does no harm there.
"""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

CALLS = 400  # far below the ~11,000 references the broken binding would consume before aborting
SINGLETONS = {"True": True, "None": None, "False": False}


class _Emitter(QObject):
    plain = Signal()
    numbers = Signal(int, int)
    anything = Signal(object)

    @Slot(int, int)
    def on_numbers(self, done: int, total: int) -> None:
        self.last_sender = self.sender()  # sender() inside a slot: the sending QObject


class _Objects:
    """A sender, its receiver (connected directly: the slot runs inside emit()) and a sender connected to the
    same receiver through the event loop."""

    def __init__(self) -> None:
        self.emitter, self.receiver, self.queued = _Emitter(), _Emitter(), _Emitter()
        self.emitter.numbers.connect(self.receiver.on_numbers)
        self.queued.numbers.connect(self.receiver.on_numbers, Qt.ConnectionType.QueuedConnection)


OPERATIONS = {
    "emit() of a signal with no receiver": lambda o, app: o.emitter.plain.emit(),
    "emit(int, int) to a Python slot": lambda o, app: o.emitter.numbers.emit(1, 2),
    "emit(object)": lambda o, app: o.emitter.anything.emit(None),
    "a queued emit delivered by the event loop": lambda o, app: (o.queued.numbers.emit(0, 1), app.processEvents()),
    "QObject.sender() outside a slot": lambda o, app: o.emitter.sender(),
    "QObject.setObjectName()": lambda o, app: o.emitter.setObjectName("worker"),
    "QTimer.singleShot(0, callable)": lambda o, app: (QTimer.singleShot(0, lambda: None), app.processEvents()),
}


def references_lost(call) -> dict[str, int]:
    """References to True/None/False that ``CALLS`` calls of ``call`` lost for good (none for a sound binding)."""
    before = {name: sys.getrefcount(value) for name, value in SINGLETONS.items()}
    for _ in range(CALLS):
        call()
    lost = {name: before[name] - sys.getrefcount(value) for name, value in SINGLETONS.items()}
    return {name: count for name, count in lost.items() if count >= CALLS // 2}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_binding_keeps_references_to_true_none_and_false(qapp, operation):
    objects = _Objects()
    lost = references_lost(lambda: OPERATIONS[operation](objects, qapp))
    assert not lost, (f"{operation} lost references for good over {CALLS} calls: {lost}; this Qt binding "
                      f"would abort a long session. Install another release (pyproject.toml excludes 6.12.0).")
