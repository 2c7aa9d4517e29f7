"""The one place that imports spandrel (MIT; the core package only, never ``spandrel_extra_arches``).

spandrel recognises community super-resolution models (ESRGAN, Real-ESRGAN Compact, SwinIR, HAT, DAT, SPAN...)
from their weights alone and builds the matching network. Everything else in the app reaches it through
:func:`import_spandrel` and :func:`detect_architecture` here.

**Why torchvision is faked for one moment.** spandrel 0.4.2 declares torchvision as a dependency, and
``import spandrel`` imports ``torchvision.transforms.functional`` at once, because its architecture registry
imports every architecture, and two of them use it: LaMa (inpainting: ``rotate``, ``InterpolationMode``) and
RestoreFormer (face restoration: ``normalize``). No super-resolution architecture needs it. torchvision
wheels are built for one exact torch version, and where none matches ours (on the project's machines PyPI's
only torchvision for torch 2.13 is a CUDA build that fails to import next to the CPU torch: "operator
torchvision::nms does not exist") plain ``pip install spandrel`` leaves ``import spandrel`` broken, and would pull
gigabytes of CUDA libraries into the bundle. So the app installs spandrel with ``pip install --no-deps`` (its
real needs, einops and typing_extensions, are our own dependencies) and does this:

* if ``torchvision.transforms.functional`` imports (a user with a matched torchvision), spandrel uses it as is;
* otherwise a stand-in for exactly those three module names (``torchvision``, ``torchvision.transforms``,
  ``torchvision.transforms.functional``) sits in ``sys.modules`` only for the duration of ``import spandrel``,
  and is removed right after, so no other code ever sees a fake torchvision. Its functions raise
  :class:`TorchvisionMissing` if anything calls them; nothing can, because LaMa and RestoreFormer files are
  refused before spandrel builds them (:func:`refuse_unsupported`).

If spandrel itself is not installed, every community-model feature raises :class:`SpandrelMissing`, which
says how to install it.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import sys
import threading
import types
import warnings
from collections.abc import Mapping
from typing import Any

from sinsr_gui.errors import UserError

SPANDREL_VERSION = "0.4.2"  # the version the app is built and tested with (scripts/run.sh, scripts/test.sh)
INSTALL_HINT = f"install spandrel: pip install --no-deps spandrel=={SPANDREL_VERSION}"
# The architectures whose modules import torchvision; neither is a super-resolution model.
TORCHVISION_ARCHITECTURES = {"LaMa": "an inpainting model", "RestoreFormer": "a face-restoration model"}
_STANDIN_NAMES = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")

_lock = threading.Lock()
_module: types.ModuleType | None = None
_standin_used = False


class SpandrelMissing(UserError):
    """spandrel is not installed (or cannot be imported), so community models cannot be used."""


class UnsupportedArchitecture(UserError):
    """A model spandrel knows but this app will not run (the message says why)."""


class TorchvisionMissing(RuntimeError):
    """A torchvision function of the stand-in was called (it never should be: see the module docstring)."""


def _standin_modules() -> dict[str, types.ModuleType]:
    """Minimal ``torchvision.transforms.functional``: the names spandrel imports, each refusing to run."""

    def unavailable(name: str):
        def call(*args: Any, **kwargs: Any) -> Any:
            raise TorchvisionMissing(
                f"torchvision.transforms.functional.{name} is not available: this app does not ship torchvision, "
                "and only LaMa and RestoreFormer (not super-resolution models) would use it.")
        call.__name__ = name
        return call

    class InterpolationMode(enum.Enum):  # the values torchvision uses, so a comparison would still be sane
        NEAREST = "nearest"
        NEAREST_EXACT = "nearest-exact"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"
        BOX = "box"
        HAMMING = "hamming"
        LANCZOS = "lanczos"

    root, transforms, functional = (types.ModuleType(name) for name in _STANDIN_NAMES)
    functional.InterpolationMode = InterpolationMode  # type: ignore[attr-defined]
    for name in ("rotate", "normalize", "resize", "pad", "to_tensor"):
        setattr(functional, name, unavailable(name))
    transforms.functional = functional  # type: ignore[attr-defined]
    root.transforms = transforms  # type: ignore[attr-defined]
    for module in (root, transforms, functional):
        module.__dict__["__sinsr_standin__"] = True
        module.__path__ = []  # type: ignore[attr-defined]  # a package, so "import a.b" resolves through it
    return dict(zip(_STANDIN_NAMES, (root, transforms, functional)))


def _real_torchvision_works() -> bool:
    """Whether a real torchvision imports here (a mismatched build fails in many ways: RuntimeError, OSError...)."""
    try:
        if importlib.util.find_spec("torchvision") is None:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Failed to load image Python extension"
            importlib.import_module("torchvision.transforms.functional")
    except Exception:  # noqa: BLE001
        return False
    return True


def _import_with_standin() -> types.ModuleType:
    saved = {name: sys.modules.get(name) for name in _STANDIN_NAMES}
    sys.modules.update(_standin_modules())
    try:
        return importlib.import_module("spandrel")
    finally:
        # Put back exactly what was there (normally nothing), whether or not the import worked.
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def is_available() -> bool:
    """Whether spandrel is installed (cheap: does not import it)."""
    return _module is not None or importlib.util.find_spec("spandrel") is not None


def import_spandrel() -> types.ModuleType:
    """The spandrel module, imported once (thread-safe). Raises :class:`SpandrelMissing`."""
    global _module, _standin_used
    with _lock:
        if _module is not None:
            return _module
        if importlib.util.find_spec("spandrel") is None:
            raise SpandrelMissing(f"Community models need the spandrel library, which is not installed; {INSTALL_HINT}.")
        try:
            if "spandrel" in sys.modules or _real_torchvision_works():
                module = importlib.import_module("spandrel")
                standin = False
            else:
                module = _import_with_standin()
                standin = True
        except Exception as exc:  # noqa: BLE001 - a broken install: say so in one sentence
            raise SpandrelMissing(f"The spandrel library is installed but cannot be loaded ({type(exc).__name__}: "
                                  f"{exc}); reinstall it: pip install --no-deps --force-reinstall "
                                  f"spandrel=={SPANDREL_VERSION}.") from exc
        _module, _standin_used = module, standin
        return module


def uses_torchvision_standin() -> bool:
    """True when spandrel was imported with the stand-in (no working torchvision here)."""
    import_spandrel()
    return _standin_used


def detect_architecture(state_dict: Mapping[str, Any]) -> Any | None:
    """spandrel's :class:`Architecture` for ``state_dict`` (its detection order), or None: detection only,
    nothing is built. The state dict is canonicalised the way spandrel's loader does it."""
    spandrel = import_spandrel()
    canonical = spandrel.canonicalize_state_dict(dict(state_dict))
    for support in spandrel.MAIN_REGISTRY.architectures("detection"):
        if support.detect(canonical):
            return support.architecture
    return None


def refuse_unsupported(arch_id: str, label: str) -> None:
    """Raise for the architectures this app cannot build (LaMa, RestoreFormer); see the module docstring."""
    what = TORCHVISION_ARCHITECTURES.get(arch_id)
    if what is None:
        return
    raise UnsupportedArchitecture(
        f"{label} is a {arch_id} model ({what}). LaMa and RestoreFormer need torchvision, which this app does "
        "not ship; they are not super-resolution models anyway.")


def load_from_state_dict(state_dict: Mapping[str, Any], label: str) -> Any:
    """Detect and build the model for ``state_dict`` on the CPU in float32: spandrel's ``ModelDescriptor``.

    Raises :class:`UnsupportedArchitecture` for LaMa/RestoreFormer (before building them), and returns None
    when spandrel recognises no architecture. Other errors while building are spandrel's (the caller words them).
    """
    spandrel = import_spandrel()
    arch = detect_architecture(state_dict)
    if arch is None:
        return None
    refuse_unsupported(str(arch.id), label)
    return spandrel.ModelLoader(device="cpu").load_from_state_dict(dict(state_dict))
