"""Which model the app runs, where: the one a run loaded once it reported itself, else the one the settings
would load. Labels, the model picker's entries, whether the first-run panel is needed, time estimates and
"does this error stop every photo" all come from here, and every fact about a model from its descriptor.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from sinsr_gui.errors import UserError
from sinsr_gui.qt.messages import GET_MODEL, with_remedy
from sinsr_gui.qt.text import format_duration
from sinsr_gui.settings import Settings

if TYPE_CHECKING:
    from sinsr_gui.engine.descriptor import ModelDescriptor
    from sinsr_gui.engine.photo import ModelInfo
    from sinsr_gui.engine.speed import Speed

# Which settings mean another model (release the loaded one) and which make previews outdated.
MODEL_FIELDS = ("model", "device", "precision")
IMAGE_FIELDS = ("model", "precision", "seed", "scale", "tile", "overlap")
FASTER_BY = 5.0  # a long run's warning names the Photo model's time when Photo is at least this many times faster
DETAIL_OFFER_MAX_S = 60.0  # after a Photo result, Most detail is offered when it would take at most this long
TYPICAL_PHOTO_MP, TYPICAL_PHOTO_LABEL = 0.96, "1200\u00a0×\u00a0800"  # the photo of the SinSR speed note (no break)


def affects_every_photo(error: BaseException | None, model_loaded: bool) -> bool:
    """A failure before the model was loaded (weights, device, a damaged file) or an out-of-memory error
    would repeat for every photo, so the queue stops; a failure of one photo's file does not."""
    from sinsr_gui.engine.tiling import OutOfMemory

    return error is not None and (not model_loaded or isinstance(error, OutOfMemory))


def _no_graphics_card() -> bool:
    """No GPU the app can use: "Automatic" device means the processor."""
    from sinsr_gui.engine.devices import resolve_device

    return resolve_device("auto").type == "cpu"


def _estimate_mark(measured: bool) -> str:
    """What follows a time that is not yet measured on this computer."""
    return "" if measured else " (first estimate)"


def _about(seconds: float, *, measured: bool) -> str:
    return format_duration(seconds) + _estimate_mark(measured)


class ModelStatus(QObject):
    """The model in use; ``changed`` when a run reports the loaded model or the settings change it."""

    changed = Signal()
    notice = Signal(str, str)  # a short sentence for the status bar, the whole text

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.loaded: ModelInfo | None = None

    def request(self):
        return self.settings.to_options().model

    # ------------------------------------------------------------------------------------------ updates
    def set_loaded(self, info: ModelInfo) -> None:
        """A worker loaded ``info``'s model (``info.notice``: e.g. "auto" fell back to a built-in model)."""
        self.loaded = info
        self.changed.emit()
        if info.notice is not None:
            self.notice.emit(info.notice.message, with_remedy(info.notice.message, info.notice.remedy))

    def forget(self) -> None:
        """The model settings changed: the next run loads another model."""
        self.loaded = None
        self.changed.emit()

    # ------------------------------------------------------------------------------------------- queries
    def expected(self) -> tuple[ModelDescriptor | None, str | None]:
        """The descriptor and device key ("cpu", "cuda:1") of the model a run would use now (None: unknown)."""
        from sinsr_gui.engine.devices import resolve_device
        from sinsr_gui.engine.models import descriptor_for, resolve_choice
        from sinsr_gui.engine.photo import device_key

        if self.loaded is not None:
            return descriptor_for(self.loaded.kind, self.request()), self.loaded.device
        try:
            kind, _ = resolve_choice(self.request())
            descriptor = descriptor_for(kind, self.request())
        except UserError:
            descriptor = None
        try:
            device = device_key(resolve_device(self.settings.device))
        except UserError:
            device = None
        return descriptor, device

    def speed(self, descriptor: ModelDescriptor | None = None, device: str | None = None) -> Speed | None:
        """The speed of the expected model (or ``descriptor``'s) on the expected device (or ``device``):
        measured here, or a first estimate (rule: ``engine.speed``); None when there is none."""
        from sinsr_gui.engine.speed import expected_speed

        expected, expected_device = self.expected()
        descriptor, device = descriptor or expected, device or expected_device
        if descriptor is None or device is None:
            return None
        return expected_speed(descriptor, device, self.settings.measured_speeds(device))

    def seconds_per_megapixel(self) -> float | None:
        speed = self.speed()
        return None if speed is None else speed.seconds_per_mp

    def estimate_seconds(self, sizes: list[tuple[int, int] | None]) -> float | None:
        """Expected time for photos of these (width, height); None until every size and a speed are known."""
        rate = self.seconds_per_megapixel()
        if not sizes or rate is None or any(s is None for s in sizes):
            return None
        return rate * sum(w * h for w, h in sizes) / 1e6  # type: ignore[misc]

    def describe_estimate(self, seconds: float | None) -> str:
        """'about 3 min', marked as a first estimate until the model has run on this device."""
        if seconds is None:
            return "time known after the first tiles"
        speed = self.speed()
        return _about(seconds, measured=speed is not None and speed.measured)

    def long_run_warning(self, estimate: float | None) -> str:
        """A sentence when the run will be long (over ``LONG_RUN_S``, or a multi-step model on a CPU), else "";
        it names the built-in Photo model's time for the same photos when that is much shorter."""
        descriptor, device = self.expected()
        if descriptor is None:
            return ""
        from sinsr_gui.engine.speed import LONG_RUN_S

        multi_step_on_cpu = descriptor.passes > 1 and device == "cpu"
        if not multi_step_on_cpu and (estimate is None or estimate < LONG_RUN_S):
            return ""
        text = f"This will take a while{f': {self.describe_estimate(estimate)}' if estimate else ''}."
        if descriptor.passes > 1:
            text += f" {descriptor.display_name} runs {descriptor.passes} steps per tile" + (
                " on the processor; SinSR gives nearly the same in one step." if device == "cpu" else ".")
        return text + self._faster_alternative(descriptor, estimate)

    def _faster_alternative(self, descriptor: ModelDescriptor, estimate: float | None) -> str:
        from sinsr_gui.engine.models.builtin import FAITHFUL, PHOTO

        if estimate is None or descriptor.kind in (PHOTO.kind, FAITHFUL.kind):
            return ""
        own, fast = self.speed(descriptor), self.speed(PHOTO)
        if own is None or fast is None or fast.seconds_per_mp * FASTER_BY > own.seconds_per_mp:
            return ""
        photo_seconds = estimate * fast.seconds_per_mp / own.seconds_per_mp
        return f" {PHOTO.display_name} would take {format_duration(photo_seconds)}."

    def sinsr_speed_note(self, megapixels: float = TYPICAL_PHOTO_MP) -> str:
        """On a computer with no graphics card the app can use, a sentence on what SinSR costs here against
        Photo for a photo of ``megapixels`` (read before downloading SinSR); "" where there is a GPU."""
        from sinsr_gui.engine.models.builtin import PHOTO
        from sinsr_gui.engine.pipeline import SINSR_DESCRIPTOR

        if not _no_graphics_card():
            return ""
        sinsr, photo = self.speed(SINSR_DESCRIPTOR, "cpu"), self.speed(PHOTO, "cpu")
        if sinsr is None or photo is None:
            return ""
        sinsr_time = _about(sinsr.seconds_for(megapixels), measured=sinsr.measured)
        return (f"Without a graphics card SinSR runs on the processor, which is slow: {sinsr_time} for a "
                f"{TYPICAL_PHOTO_LABEL} photo on this computer, against "
                f"{format_duration(photo.seconds_for(megapixels))} with {PHOTO.display_name}.")

    def offers_most_detail(self) -> bool:
        """Whether the first-run line offers Most detail: when the model in use is another built-in one (on a
        processor Automatic runs Photo, the fast one)."""
        from sinsr_gui.engine.models.builtin import DETAIL

        descriptor, _ = self.expected()
        return descriptor is not None and descriptor.kind != DETAIL.kind

    def detail_offer(self, name: str, size: tuple[int, int], kind: str, device: str) -> str:
        """After Automatic upscaled ``name`` (``size``: its width and height) with Photo on the processor: one
        sentence offering Most detail for it, when that would take at most ``DETAIL_OFFER_MAX_S`` here; shown
        once (``detail_offer_done``). "" otherwise: another model, one the user chose, or a photo too large."""
        from sinsr_gui.engine.models.builtin import DETAIL, PHOTO
        from sinsr_gui.engine.types import AUTO

        s = self.settings
        if s.detail_offer_done or s.model != AUTO or kind != PHOTO.kind or device != "cpu":
            return ""
        speed = self.speed(DETAIL, "cpu")
        seconds = None if speed is None else speed.seconds_for(size[0] * size[1] / 1e6)
        if seconds is None or seconds > DETAIL_OFFER_MAX_S:
            return ""
        return (f"For a crisper {name}, {DETAIL.display_name} would take {_about(seconds, measured=speed.measured)} "
                "on this computer; the result you have now stays, to compare the two.")

    def first_run_text(self) -> str:
        """The line shown once on the first launch without SinSR: the model in use; on the processor, what it
        and Most detail (built in, crisper) take for a typical photo here; and the SinSR offer, with its time
        here when there is no graphics card."""
        from sinsr_gui.engine.models.builtin import DETAIL
        from sinsr_gui.engine.pipeline import SINSR_DESCRIPTOR

        descriptor, device = self.expected()
        if descriptor is None:
            text = "No model is installed yet."
        else:
            text = f"You are using {descriptor.display_name}: it comes with the app and works offline."
            if self.offers_most_detail():
                own, detail = self.speed(descriptor, device), self.speed(DETAIL, device)
                if device == "cpu" and own is not None and detail is not None:
                    marks = "" if own.measured and detail.measured else " (first estimates)"
                    text += (f" For a {TYPICAL_PHOTO_LABEL} photo on this computer it takes "
                             f"{format_duration(own.seconds_for(TYPICAL_PHOTO_MP))}, and {DETAIL.display_name}, "
                             f"which is crisper, {format_duration(detail.seconds_for(TYPICAL_PHOTO_MP))}"
                             f"{marks}.")
                else:
                    text += f" {DETAIL.display_name} is crisper and slower."
        sinsr = self.speed(SINSR_DESCRIPTOR, "cpu") if _no_graphics_card() else None
        cost = (f"; without a graphics card it takes {format_duration(sinsr.seconds_for(TYPICAL_PHOTO_MP))} here"
                f"{_estimate_mark(sinsr.measured)}" if sinsr else "")
        return (f"{text} For the most natural detail, get SinSR: a download of about 700 MB, for non-commercial "
                f"use (also later in {GET_MODEL}){cost}.")

    def label(self) -> str:
        """For the status bar: "SinSR v1 · CPU · fp32" once loaded, else "Photo (built-in) · CPU"."""
        info = self.loaded
        if info is not None:
            return f"{info.display_name} · {info.device_label} · {info.precision}"
        descriptor, device = self.expected()
        name = descriptor.display_name if descriptor is not None else "No model"
        device = device or self.settings.device
        return f"{name} · {device.upper() if device in ('cpu', 'mps') else device}"

    def choices(self) -> list[tuple[ModelDescriptor, bool]]:
        """Every model with whether it is installed."""
        from sinsr_gui.engine.models import model_choices

        request = self.request()
        try:
            return model_choices(request)
        except UserError:  # e.g. only one of the two explicit SinSR files: as if none were given
            return model_choices(dataclasses.replace(request, unet=None, autoencoder=None))

    def picker(self) -> list[tuple[str, str, str]]:
        """The model picker's entries: (setting value, label, tooltip), Automatic first."""
        from sinsr_gui.engine.models import AUTO, AUTO_FALLBACKS, AUTO_FIRST, descriptor_for, resolve_choice

        request = dataclasses.replace(self.request(), model=AUTO)
        try:
            now = descriptor_for(resolve_choice(request)[0]).display_name
        except UserError:
            now = "nothing installed"
        first, gpu, cpu = (descriptor_for(k).display_name for k in (AUTO_FIRST, *AUTO_FALLBACKS.values()))
        entries = [(AUTO, f"Automatic: now {now}", f"{first} when it is installed; otherwise {gpu} on a graphics "
                    f"card and {cpu} on the processor.")]
        for descriptor, installed in self.choices():
            state = "installed" if installed else "not installed"
            entries.append((descriptor.kind, f"{descriptor.display_name} · {state}", descriptor.summary))
        return entries

    def options_used(self) -> dict[str, frozenset[str]]:
        """For each picker entry, the optional settings its model uses: "seed" when it draws noise, and
        "sampler" when it also takes several steps (the sampler is how it steps). The panel hides the rest."""
        from sinsr_gui.engine.models import AUTO, descriptor_for, resolve_choice

        def uses(d: ModelDescriptor) -> frozenset[str]:
            return frozenset({"seed"} if d.needs_noise else set()) | (
                {"sampler"} if d.needs_noise and d.passes > 1 else set())

        used = {d.kind: uses(d) for d, _installed in self.choices()}
        try:
            used[AUTO] = uses(descriptor_for(resolve_choice(dataclasses.replace(self.request(), model=AUTO))[0]))
        except UserError:
            used[AUTO] = frozenset()
        return used

    def first_run_needed(self) -> bool:
        """Whether the first-run offer is due: the chosen model is not there (or "Automatic" had to fall
        back) and the offer was not shown before (``first_run_done``: it is shown once)."""
        from sinsr_gui.engine.models import resolve_choice

        if self.settings.first_run_done:
            return False
        try:
            kind, notice = resolve_choice(self.request())
        except UserError:
            return True
        return notice is not None or not dict((d.kind, ok) for d, ok in self.choices()).get(kind, False)
