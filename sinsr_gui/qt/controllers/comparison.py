"""What the two sides of the compare view show, and what they are called.

The right side is always the job's result (or a preview). The left side is "before", the photo as it came
(enlarged with bicubic onto the output grid by default, or its original pixels), or, once a photo was
upscaled again with another model, seed or sampler, its previous result: then the same slider, side-by-side
view and flip key compare two results (A/B), labelled with what made each one.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from sinsr_gui.qt.compare_view import CompareView
from sinsr_gui.qt.controllers.display import DisplayController, Shown
from sinsr_gui.qt.controllers.settings import SettingsController
from sinsr_gui.queue import Job, PhotoQueue


class Comparison(QObject):
    """Keeps the compare view's left side, images and labels in step with the shown photo."""

    changed = Signal()  # what can be compared changed (the window updates its actions)
    message = Signal(str, str)

    def __init__(self, view: CompareView, queue: PhotoQueue, display: DisplayController,
                 preferences: SettingsController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self.queue, self.display, self.preferences = view, queue, display, preferences
        self.against_previous = False  # the left side shows the previous result instead of "before"
        self._shown: Shown | None = None

    @property
    def can_compare_results(self) -> bool:
        return self._shown is not None and self._shown.previous is not None and self._shown.after is not None

    def show(self, shown: Shown, scale: float) -> None:
        """Show a decoded photo: a new photo fits the window; the same photo shown again (its other result
        kept, "before" as original pixels) keeps the zoom and the part in view."""
        same = self._shown is not None and self._shown.job_id == shown.job_id
        self._shown = shown
        self._apply(scale, keep_view=same)

    def upscaling_again(self, shown: Shown) -> None:
        """The shown photo is being upscaled again: its result stays on screen, captioned as the earlier
        one, until the new one arrives."""
        self._shown = shown
        self._label(after="Earlier result; upscaling again…")
        self.changed.emit()

    def result_arrived(self, shown: Shown | None) -> None:
        """The shown job got a (new) result: the view already shows it; an A/B left side and the labels
        follow, zoom and pan stay."""
        if shown is not None:
            self._shown = shown
            if self.against_previous and self.can_compare_results:
                self._apply(self._stretch_scale(), keep_view=True)
            self._label()
        self.changed.emit()

    def why_no_previous(self, job: Job | None) -> str:
        """Why there is no previous result to compare with (for the menu), "" when there is one."""
        if self.can_compare_results:
            return ""
        if job is None or job.result is None:
            return "upscale the photo first"
        if job.previous is None:
            return "after Retry with another model or seed"
        return "its saved file is gone" if job.previous_saved is not None else "not kept in memory"

    def set_against_previous(self, on: bool) -> bool:
        """Compare the result with the previous one (True) or with "before"; returns what is now shown."""
        self.against_previous = bool(on)
        if self._shown is not None:
            self._apply(self._stretch_scale(), keep_view=True)
        self.changed.emit()
        return self.against_previous and self.can_compare_results

    def keep_previous(self, job_id: int) -> None:
        """Make the previous result the photo's result again, and the newer one the previous (View menu)."""
        job = self.queue.swap_results(job_id)
        if job is not None:  # the queue tells the views
            self.display.show(job)
            self.message.emit(f"Kept the previous result of {job.path.name}.", "")

    def set_before_original(self, on: bool, job_id: int) -> None:
        """Show "before" as the original pixels (True) or as a bicubic enlargement (the default)."""
        self.preferences.update({"before_view": "original" if on else "enlarged"})
        self.display.show(self.queue.get(job_id))

    def clear(self) -> None:
        self._shown = None
        self.changed.emit()

    def _stretch_scale(self) -> float:
        return self.view.output_size().width() / max(1, self._shown.photo.size[0])

    def _apply(self, scale: float, *, keep_view: bool) -> None:
        shown = self._shown
        left = shown.previous if self.against_previous and self.can_compare_results else shown.before
        state = self.view.view_state() if keep_view and not self.view.output_size().isEmpty() else None
        # The view places the left image on the output grid: say how much it must be stretched (1 for an
        # enlarged "before" or a result, `scale` for the original pixels).
        self.view.set_images(left, shown.after, scale * shown.photo.size[0] / max(1, left.width()))
        if state is not None:
            self.view.restore_view_state(state)
        self._label()
        self.changed.emit()

    def _label(self, after: str | None = None) -> None:
        shown = self._shown
        after = after or shown.after_label
        if self.against_previous and self.can_compare_results:
            self.view.set_labels(f"A: {shown.previous_label}", f"B: {after}")
        else:
            self.view.set_labels(shown.before_label, after)
