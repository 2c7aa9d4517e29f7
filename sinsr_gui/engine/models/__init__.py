"""The models the app can run, how one is chosen, and a cache that keeps the loaded one.

* ``sinsr``: the official SinSR v1 weights (installed by the weights manager, or explicit files);
* ``photo``: the built-in "Photo" model, for real photos (JPEG, blur, noise): the default on a CPU without SinSR;
* ``faithful``: the built-in "Faithful" model, for clean sources;
* ``detail``: the built-in "Most detail" model, Real-ESRGAN x4plus: the crispest, and slow on a CPU;
* ``resshift``: SinSR's 15-step teacher (stochastic or deterministic sampler), when its weights are installed;
* ``auto``: SinSR when its weights are installed; otherwise Most detail on a graphics card, where it is fast,
  and Photo on the processor (and it says so: :func:`auto_fallback`);
* ``community:NAME``: a community model (imported or downloaded weights that spandrel recognises), when
  installed; :data:`MODEL_CHOICES` lists only the fixed choices, :func:`model_choices` the installed community
  models as well.

Each model's facts are in its :class:`ModelDescriptor`; its family (:mod:`.family`: owns, describe,
is_installed, load, listed) knows how to find and load it: ``sinsr.FAMILY``, ``resshift.FAMILY``, and here
the built-in and community families over their modules. This module only chooses among
:data:`FAMILIES`; a new family is one module and one entry there.
"""

from __future__ import annotations

import threading

import torch

from sinsr_gui.engine.descriptor import ModelDescriptor, Upscaler
from sinsr_gui.engine.devices import DeviceError, resolve_device
from sinsr_gui.engine.models import builtin, community, resshift, sinsr
from sinsr_gui.engine.models.family import FixedFamily, ModelFamily
from sinsr_gui.engine.models.sinsr import ModelUnavailable
from sinsr_gui.engine.options import COMMUNITY_PREFIX, LEGACY_MODEL_NAMES, MODEL_CHOICES
from sinsr_gui.engine.types import AUTO, ModelRequest, Notice

__all__ = ["AUTO", "COMMUNITY_PREFIX", "FAMILIES", "MODEL_CHOICES", "ModelCache", "ModelDescriptor", "ModelFamily",
           "ModelRequest", "ModelUnavailable", "Notice", "Upscaler", "descriptor_for", "family_of", "is_community",
           "is_installed", "load_model", "model_choices", "normalise_choice", "resolve_choice"]

is_community = community.is_community


class _CommunityFamily:
    """Community models (spandrel), one per recorded file: ``community:NAME``."""

    def owns(self, choice: str) -> bool:
        return community.is_community(choice)

    def describe(self, choice: str, request: ModelRequest) -> ModelDescriptor:
        return community.descriptor(choice, request)

    def is_installed(self, choice: str, request: ModelRequest) -> bool:
        return community.is_installed(choice, request)

    def load(self, choice: str, request: ModelRequest) -> Upscaler:
        return community.load(choice, request)

    def listed(self, request: ModelRequest) -> list[tuple[ModelDescriptor, bool]]:
        return [(community.descriptor_for_info(info), ok) for info, ok in community.installed(request)]


BUILTIN = FixedFamily(builtin.DESCRIPTORS, lambda d, _request: builtin.is_installed(d),
                      lambda d, request: builtin.BuiltinUpscaler(d, request.device, request.dtype))
COMMUNITY = _CommunityFamily()
FAMILIES: tuple[ModelFamily, ...] = (sinsr.FAMILY, BUILTIN, resshift.FAMILY, COMMUNITY)  # pickers list this order

AUTO_FIRST = "sinsr"  # what "auto" runs when it is installed; otherwise auto_fallback's choice
AUTO_FALLBACKS = {"gpu": "detail", "cpu": "photo"}
DESCRIPTORS: dict[str, ModelDescriptor] = {  # the fixed models (community ones are found in the weights store)
    d.kind: d for f in FAMILIES if isinstance(f, FixedFamily) for d in f.descriptors}
# The light list of choices (settings and argument parsers read it without importing torch) must name
# exactly these models.
assert (AUTO, *DESCRIPTORS) == MODEL_CHOICES, "engine.options.MODEL_CHOICES is out of date"


def normalise_choice(name: str) -> str:
    """A model choice as stored/typed -> one of :data:`MODEL_CHOICES` or ``community:NAME`` (lower case).

    Raises ModelUnavailable for an unknown name; whether a community model is installed is checked on load.
    """
    if is_community(name):
        return community.normalise(name)
    name = LEGACY_MODEL_NAMES.get(name.strip().lower(), name.strip().lower())
    if name not in MODEL_CHOICES:
        raise ModelUnavailable(f"Unknown model {name!r}; the models are {', '.join(MODEL_CHOICES)}, or "
                               "community:NAME for an installed community model.")
    return name


def family_of(choice: str) -> ModelFamily:
    """The family of a normalised choice (``normalise_choice`` has rejected unknown names)."""
    for family in FAMILIES:
        if family.owns(choice):
            return family
    raise ModelUnavailable(f"Unknown model {choice!r}.")


def descriptor_for(kind: str, request: ModelRequest | None = None) -> ModelDescriptor:
    """The descriptor of a model choice. A community model's comes from the weights store of ``request``
    (its ``weights_dir``; the default store without one); ModelUnavailable when it is not installed."""
    kind = normalise_choice(kind)
    return family_of(kind).describe(kind, request or ModelRequest())


def is_installed(kind: str, request: ModelRequest) -> bool:
    return family_of(kind).is_installed(kind, request)


def model_choices(request: ModelRequest) -> list[tuple[ModelDescriptor, bool]]:
    """Every model with whether it can run now (for pickers and ``weights list``): the fixed ones, then each
    recorded community model (``descriptor.kind`` is its choice, ``community:NAME``)."""
    return [entry for family in FAMILIES for entry in family.listed(request)]


def resolve_choice(request: ModelRequest) -> tuple[str, Notice | None]:
    """The model kind a request runs, and a notice when "auto" had to fall back."""
    choice = normalise_choice(request.model)
    if choice != AUTO:
        return choice, None
    if is_installed(AUTO_FIRST, request):
        return AUTO_FIRST, None
    kind = auto_fallback(request)
    return kind, Notice(f"SinSR is not installed: using {DESCRIPTORS[kind].display_name}.",
                        sinsr.get_weights_remedy())


def auto_fallback(request: ModelRequest) -> str:
    """What "auto" runs without SinSR: Most detail on a graphics card, where Real-ESRGAN x4plus takes seconds
    a photo, and Photo on the processor, where Most detail takes about 16 times as long (docs/cpu/detail_vs_photo.json).
    A device that cannot be used counts as the processor (the run then says what is wrong with it)."""
    try:
        on_gpu = resolve_device(request.device).type != "cpu"
    except DeviceError:
        on_gpu = False
    return AUTO_FALLBACKS["gpu" if on_gpu else "cpu"]


def load_model(request: ModelRequest) -> tuple[Upscaler, Notice | None]:
    """Load the requested model; returns it with a notice for the user, or None."""
    kind, notice = resolve_choice(request)
    return family_of(kind).load(kind, request), notice


class ModelCache:
    """Keeps one loaded model; a different request releases it before loading the next (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request: ModelRequest | None = None
        self._entry: tuple[Upscaler, Notice | None] | None = None

    def get(self, request: ModelRequest) -> tuple[Upscaler, Notice | None]:
        with self._lock:
            if self._entry is not None and self._request == request:
                return self._entry
            self._release_locked()
            self._entry = load_model(request)
            self._request = request
            return self._entry

    def release(self) -> None:
        with self._lock:
            self._release_locked()

    def _release_locked(self) -> None:
        if self._entry is not None:
            device = self._entry[0].device
            self._entry = None
            self._request = None
            if device.type == "cuda":
                torch.cuda.empty_cache()

    @property
    def loaded(self) -> ModelRequest | None:
        return self._request
