"""Community models: super-resolution weights from elsewhere that spandrel recognises, in the weights store.

How a file becomes a model the app can run::

    file ──read safely──> state dict ──spandrel detects──> facts ──user confirms──> store ──> "community:NAME"

1. :func:`inspect_file` reads the file with :func:`~sinsr_gui.weights.checkpoint.read_state_dict` only
   (safetensors, or ``torch.load(weights_only=True)``: a malicious pickle is refused and never runs; wrappers such
   as Real-ESRGAN's ``params_ema`` are unwrapped) and hands the tensors to spandrel, which names the architecture
   and builds it (LaMa and RestoreFormer are refused first: :mod:`sinsr_gui.weights.spandrel_support`).
   Only single-image models whose output is an RGB image are accepted: purpose ``SR`` at scale 2, 3, 4 or 8
   (or 1), and ``Restoration`` models, which spandrel defines as scale 1 (denoise, de-JPEG, deblur): the engine's
   resampler then enlarges their result to the chosen output scale, as it does for every other native scale.
   Face models (``FaceSR``: whole photos are not aligned face crops), inpainting (needs a mask), grey or RGBA
   models (the photo's colour would be lost; transparency is enlarged on its own anyway) are refused, each with
   a sentence saying why.
2. The licence of such a file is unknown to us, so the user confirms that they may use it
   (:meth:`CommunityCandidate.confirmation_text`: file name, architecture, scale, parameter count); the command
   line asks on a terminal or needs ``--accept-license``, the app passes a ``confirm`` callback.
3. :func:`import_community` stores it as ``<store>/community/NAME.safetensors`` (converted, written to a temporary
   name, re-read and checked, then renamed into place) with an index entry ``community:NAME`` holding its facts
   (:class:`CommunityFacts`), its SHA-256, the source file and when the user confirmed.

The registry's community downloads (Real-ESRGAN) take the same path after their download is verified
(:func:`install_download`); their licence is known and was accepted before the download.
``sinsr_gui.engine.models.community`` turns an installed model into an engine model.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path
from ..errors import Cancelled, Remedy
from .checkpoint import CheckpointError, read_state_dict, savable_state, shapes_of
from .registry import APP_REGISTRY, COMMUNITY_REGISTRY, Registry, UnknownWeightsError, WeightSpec
from .store import (
    COMMUNITY_PREFIX,
    VerificationError,
    WeightsError,
    WeightsMissingError,
    WeightStatus,
    WeightStore,
    format_size,
    sha256_file,
)

SCALES = (1, 2, 3, 4, 8)  # native scales accepted; the engine resamples to the output scale the user chose
UNKNOWN_LICENCE = "unknown: confirmed by the user on import"
_NAME_OK = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

Confirm = Callable[["CommunityCandidate"], bool]


class CommunityModelError(VerificationError):
    """A file that cannot be used as a community model; the message says why."""


class ConfirmationRequired(WeightsError):
    """The user has not confirmed that they may use a file whose licence is unknown, and could not be asked.
    (The command line adds how to confirm: ``--accept-license``.)"""


class ImportDeclined(Cancelled):
    """The user was asked and said no: nothing was stored (not an error)."""


class CommunityNameError(WeightsError):
    """The name asked for is taken or not usable."""


@dataclass(frozen=True)
class CommunityFacts:
    """What spandrel says about a model: everything the engine needs without loading spandrel again."""

    architecture: str  # spandrel's architecture name, e.g. "ESRGAN", "RealESRGAN Compact", "SwinIR"
    arch_id: str  # spandrel's id, e.g. "Compact" (stable; names may change)
    purpose: str  # "SR" or "Restoration"
    scale: int
    size_multiple: int  # input sides must be a multiple of this (spandrel's size_requirements.multiple_of)
    min_size: int  # ... and at least this (smaller tiles are padded)
    square: bool  # the model wants square inputs (padded to a square)
    input_channels: int
    output_channels: int
    supports_half: bool
    supports_bfloat16: bool
    parameters: int
    tiling: str  # spandrel's advice: "supported", "discouraged" (global context matters) or "internal"
    tags: tuple[str, ...] = ()
    hyperparameters: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["tags"] = list(self.tags)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CommunityFacts:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["tags"] = tuple(known.get("tags", ()))
        known["hyperparameters"] = dict(known.get("hyperparameters") or {})
        return cls(**known)

    @property
    def summary(self) -> str:
        kind = f"x{self.scale} super-resolution" if self.scale > 1 else "1x restoration"
        return f"{self.architecture}, {kind}, {self.parameters / 1e6:.2f} M parameters"


@dataclass(frozen=True)
class CommunityInfo:
    """An installed community model, as the index records it."""

    name: str
    facts: CommunityFacts
    path: Path
    sha256: str
    size: int
    source: str  # the path or URL it came from
    source_name: str  # the file name the user knows it by
    source_sha256: str  # of the original file (e.g. the .pth), before conversion
    confirmed_at: str
    licence: str
    licence_url: str = ""
    registry_name: str | None = None  # a known download (e.g. "realesrgan_x4plus"), else None

    @property
    def choice(self) -> str:
        """The model choice that runs it: ``community:NAME`` (settings, ``--model``)."""
        return COMMUNITY_PREFIX + self.name

    @property
    def display_name(self) -> str:
        return f"{self.name} ({self.facts.architecture} x{self.facts.scale})"


@dataclass
class CommunityCandidate:
    """A file that was read and recognised, not stored yet: what the user is asked to confirm."""

    path: Path
    name: str  # the name it will be stored under
    facts: CommunityFacts
    state: dict[str, torch.Tensor] = field(repr=False)
    source_sha256: str
    spec: WeightSpec | None = None  # the registry entry whose layout it has (its licence is then known)
    note: str = ""  # how it was converted (an ncnn pair), shown before confirming
    size: int | None = None  # bytes of the source files when they are not just ``path`` (an ncnn pair)

    @property
    def licence(self) -> str:
        return self.spec.license_name if self.spec else UNKNOWN_LICENCE

    def confirmation_text(self) -> str:
        """What the user reads before confirming (command line prompt, app dialog)."""
        f = self.facts
        size = self.size if self.size is not None else self.path.stat().st_size if self.path.is_file() else None
        lines = [
            f"{self.path.name} is a {f.architecture} model recognised by spandrel: {f.summary}"
            f" ({format_size(size) if size is not None else '?'}).",
            *([self.note] if self.note else []),
            f"It will be stored as the community model \"{self.name}\" (choose it as {COMMUNITY_PREFIX}{self.name}).",
        ]
        if self.spec is not None:
            lines.append(f"Its layout is that of the {self.spec.display_name}, published under the "
                         f"{self.spec.license_name} licence ({self.spec.license_url}).")
        else:
            lines.append("Its licence is unknown to this app. Only use it if you have the right to: check the "
                         "licence where you got it (many community models are for non-commercial use only).")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ names
def derive_name(filename: str) -> str:
    """A store name from a file name: ``4x-UltraSharp.pth`` -> ``4x-ultrasharp``."""
    stem = Path(filename).name
    for suffix in (".safetensors", ".pth", ".pt", ".ckpt", ".bin", ".param"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    name = re.sub(r"[^a-z0-9._-]+", "_", stem.lower()).strip("._-")[:64].rstrip("._-")
    return name or "model"


def normalise_name(name: str) -> str:
    """``community:NAME`` or ``NAME`` as typed -> NAME (lower case); raises if it cannot be a name."""
    name = name.strip()
    if name.lower().startswith(COMMUNITY_PREFIX):
        name = name[len(COMMUNITY_PREFIX):]
    name = name.strip().lower()
    if not _NAME_OK.match(name):
        raise CommunityNameError(f"{name!r} cannot be a model name: use up to 64 letters, digits, '.', '_' or '-', "
                                 "starting with a letter or digit.")
    return name


# ------------------------------------------------------------------------------------------------ inspecting
def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    return repr(value)


def facts_from_spandrel(model: Any, label: str) -> CommunityFacts:
    """Check a spandrel ``ModelDescriptor`` and describe it; raises :class:`CommunityModelError` if the app
    cannot run it (see the module docstring for what is accepted and why)."""
    import spandrel

    arch = model.architecture
    name = f"{arch.name}" if arch.name == arch.id else f"{arch.name} ({arch.id})"
    if not isinstance(model, spandrel.ImageModelDescriptor):
        raise CommunityModelError(f"{label} is a {name} {model.purpose.lower()} model, which needs a mask as well as "
                                  "the photo; this app runs single-image super-resolution models only.",
                                  Remedy("choose_other_file"))
    if model.purpose == "FaceSR":
        raise CommunityModelError(f"{label} is a {name} face-restoration model: it expects aligned face crops, not "
                                  "whole photos, so this app does not run it.", Remedy("choose_other_file"))
    if model.purpose not in ("SR", "Restoration"):
        raise CommunityModelError(f"{label} is a {name} model for {model.purpose}, not super-resolution.",
                                  Remedy("choose_other_file"))
    if (model.input_channels, model.output_channels) != (3, 3):
        kinds = {1: "greyscale", 3: "RGB", 4: "RGBA"}
        cin, cout = model.input_channels, model.output_channels
        what = kinds.get(cin, f"{cin}-channel") if cin == cout else f"{cin}-to-{cout}-channel"
        raise CommunityModelError(f"{label} is a {what} model ({cin} input and {cout} output channels); this app runs "
                                  "RGB models only (3 in, 3 out), so that colour is kept and transparency is "
                                  "enlarged separately.", Remedy("choose_other_file"))
    if model.scale not in SCALES:
        raise CommunityModelError(f"{label} enlarges {model.scale}x; this app runs models of scale "
                                  f"{', '.join(map(str, SCALES))}.", Remedy("choose_other_file"))
    req = model.size_requirements
    hyper = getattr(model.model, "hyperparameters", None) or {}
    return CommunityFacts(
        architecture=str(arch.name), arch_id=str(arch.id), purpose=str(model.purpose), scale=int(model.scale),
        size_multiple=int(req.multiple_of), min_size=int(req.minimum), square=bool(req.square),
        input_channels=int(model.input_channels), output_channels=int(model.output_channels),
        supports_half=bool(model.supports_half), supports_bfloat16=bool(model.supports_bfloat16),
        parameters=int(sum(p.numel() for p in model.model.parameters())),
        tiling=model.tiling.name.lower(), tags=tuple(str(t) for t in model.tags),
        hyperparameters={str(k): _json_safe(v) for k, v in hyper.items()},
    )


def build_model(state: Mapping[str, torch.Tensor], label: str) -> Any:
    """spandrel's ModelDescriptor for ``state`` (CPU, float32), checked; raises :class:`CommunityModelError`
    (or :class:`~sinsr_gui.weights.spandrel_support.SpandrelMissing` when spandrel is not installed)."""
    from sinsr_gui.weights import spandrel_support

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch.meshgrid.*")  # inside some transformers
            model = spandrel_support.load_from_state_dict(state, label)
    except spandrel_support.UnsupportedArchitecture as exc:
        raise CommunityModelError(str(exc), Remedy("choose_other_file")) from exc
    except (KeyError, ValueError, RuntimeError, IndexError, AssertionError, TypeError, AttributeError) as exc:
        # spandrel recognised the architecture from a few keys, but the rest does not fit it.
        raise CommunityModelError(f"{label} looks like a model spandrel knows, but its weights do not fit that "
                                  f"architecture ({type(exc).__name__}: {exc}); the file may be damaged or a variant "
                                  "spandrel does not support.", Remedy("choose_other_file")) from exc
    if model is None:
        raise CommunityModelError(f"{label} is not a model this app or spandrel recognises: its keys match no known "
                                  "architecture (SinSR, ResShift, VQ-f4, or one of spandrel's super-resolution "
                                  "models such as ESRGAN, Real-ESRGAN Compact, SwinIR, HAT, DAT or SPAN).",
                                  Remedy("choose_other_file"))
    return model


def _read(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsMissingError(f"{path} does not exist or is not a file.")
    try:
        return read_state_dict(path)
    except CheckpointError as exc:
        raise CommunityModelError(str(exc), exc.remedy) from exc


def _registry_match(shapes: Mapping[str, tuple[int, ...]], registry: Registry, filename: str,
                    digest: str) -> WeightSpec | None:
    """The community download this file is: its published SHA-256 when known, else its layout plus its file name
    (the official name or one of the entry's name hints), as SinSR's files are recognised. A layout alone is not
    enough: fine-tunes share the official layout but not necessarily its licence."""
    matches = registry.matching(shapes, roles=("community",)) or COMMUNITY_REGISTRY.matching(shapes)
    lowered = Path(filename).name.lower()
    for spec in matches:
        if spec.sha256 is not None:
            if digest == spec.sha256.lower():
                return spec
        elif lowered == spec.filename.lower() or any(hint in lowered for hint in spec.name_hints):
            return spec
    return None


def inspect_state_dict(state: dict[str, torch.Tensor], path: Path, *, name: str | None = None,
                       registry: Registry = APP_REGISTRY, source_sha256: str | None = None) -> CommunityCandidate:
    """Recognise an already (safely) read state dict; see :func:`inspect_file`."""
    label = path.name
    model = build_model(state, label)
    facts = facts_from_spandrel(model, label)
    del model
    digest = source_sha256 or (sha256_file(path) if path.is_file() else "")
    spec = _registry_match(shapes_of(state), registry, path.name, digest)
    if spec is not None and name and normalise_name(name) != spec.name:
        spec = None  # stored under a name of the user's: an independent copy
    chosen = normalise_name(name) if name else (spec.name if spec else derive_name(path.name))
    return CommunityCandidate(path, chosen, facts, state, digest, spec)


def inspect_file(path: str | os.PathLike[str], *, name: str | None = None,
                 registry: Registry = APP_REGISTRY) -> CommunityCandidate:
    """Read ``path`` safely and recognise it with spandrel; nothing is written. For the app's import dialog:
    show :meth:`CommunityCandidate.confirmation_text`, then :func:`install_candidate`.

    An ncnn pair (``.param`` + ``.bin``, either named) is converted first (:func:`inspect_ncnn`).
    Raises :class:`CommunityModelError` (not a usable model; a refused pickle; a face, inpainting, grey or RGBA
    model; an unsupported scale), :class:`~sinsr_gui.weights.store.WeightsMissingError` (no such file) or
    ``SpandrelMissing`` (spandrel is not installed).
    """
    from .ncnn import is_ncnn_file

    src = Path(path).expanduser().resolve()
    if is_ncnn_file(src):
        return inspect_ncnn(src, name=name, registry=registry)
    return inspect_state_dict(_read(src), src, name=name, registry=registry)


def inspect_ncnn(path: Path, *, name: str | None = None, registry: Registry = APP_REGISTRY) -> CommunityCandidate:
    """An ncnn pair converted exactly (:mod:`.ncnn`), then recognised like any state dict. The candidate's path is
    the ``.param``; its source SHA-256 is the ``.bin``'s (the weights)."""
    from .ncnn import convert_ncnn_pair, pair_paths

    param, weights = pair_paths(path)
    conversion = convert_ncnn_pair(param, weights)
    candidate = inspect_state_dict(conversion.state_dict, param, name=name, registry=registry,
                                   source_sha256=sha256_file(weights))
    candidate.note = (f"Converted exactly from the ncnn pair {param.name} + {weights.name}: "
                      f"{conversion.description}, {conversion.weight_format} weights.")
    if conversion.output_scale != conversion.scale:
        candidate.note += (f" The network enlarges x{conversion.scale}; the app resamples its result to the output "
                           "scale you choose.")
    candidate.size = param.stat().st_size + weights.stat().st_size
    return candidate


# ------------------------------------------------------------------------------------------------ storing
def _check_name_free(store: WeightStore, candidate: CommunityCandidate, replace: bool) -> bool:
    """True when the same file is installed (and present) under this name already; raises when the name is
    taken by something else."""
    name = candidate.name
    for registry in (store.registry, APP_REGISTRY):
        if name in registry and registry.get(name).role != "community":
            raise CommunityNameError(f"The name {name!r} belongs to the {registry.get(name).display_name}; "
                                     "choose another name for this model (--as NAME).")
    known = COMMUNITY_REGISTRY.get(name) if name in COMMUNITY_REGISTRY else None
    if known is not None and (candidate.spec is None or candidate.spec.name != name):
        raise CommunityNameError(f"The name {name!r} belongs to the {known.display_name} download, and "
                                 f"{candidate.path.name} does not have its layout; choose another name (--as NAME).")
    entry = store.community_entries().get(name)
    if entry is None:
        return False
    if entry.get("community", {}).get("source_sha256") == candidate.source_sha256:
        path = store.root / entry.get("file", "")
        return path.is_file() and path.stat().st_size == entry.get("size")  # else: repair it
    if not replace:
        raise CommunityNameError(f"A different community model is already installed as {name!r}; choose another "
                                 "name (--as NAME) or replace it (--replace).")
    return False


def install_candidate(candidate: CommunityCandidate, store: WeightStore, *, source: str | None = None,
                      replace: bool = False, licence: str | None = None, licence_url: str | None = None,
                      confirmed_at: str | None = None) -> CommunityInfo:
    """Store a confirmed candidate (call it only after the user confirmed); returns the installed model.

    Written as safetensors under a temporary name, read back and compared key by key and shape by shape, then
    renamed into place and recorded. The same file installed again under its name is a no-op.
    """
    if _check_name_free(store, candidate, replace):
        info = community_info(store, candidate.name)
        assert info is not None
        return info
    from safetensors.torch import save_file

    dest = store.community_path(candidate.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    wanted = shapes_of(candidate.state)
    with atomic_path(dest) as tmp:
        save_file(savable_state(candidate.state), str(tmp),
                  metadata={"community": candidate.name, "architecture": candidate.facts.arch_id,
                            "source": candidate.path.name})
        try:
            written = shapes_of(read_state_dict(tmp))
        except CheckpointError as exc:
            raise CommunityModelError(f"The converted copy of {candidate.path.name} cannot be read back ({exc}).") from exc
        if written != wanted:
            raise CommunityModelError(f"The converted copy of {candidate.path.name} differs from the file; nothing was "
                                      "installed.")
        digest = sha256_file(tmp)
    spec = candidate.spec
    extra = {"community": {
        "name": candidate.name,
        "facts": candidate.facts.to_json(),
        "source_name": candidate.path.name,
        "source_sha256": candidate.source_sha256,
        "confirmed_at": confirmed_at or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "licence": licence or (spec.license_name if spec else UNKNOWN_LICENCE),
        "licence_url": licence_url if licence_url is not None else (spec.license_url if spec else ""),
        "registry_name": spec.name if spec else None,
    }}
    store.record_community(candidate.name, dest, digest, source=source or str(candidate.path), extra=extra)
    info = community_info(store, candidate.name)
    assert info is not None
    return info


def import_community(path: str | os.PathLike[str], store: WeightStore, *, name: str | None = None,
                     confirm: Confirm | None = None, accept: bool = False, replace: bool = False
                     ) -> CommunityInfo:
    """Import a community model file: read safely, recognise with spandrel, ask, store. The source is only read.

    ``confirm(candidate)`` is asked (show ``candidate.confirmation_text()``) unless ``accept`` is True (the user
    already said yes, e.g. ``--accept-license``). A no raises :class:`ImportDeclined` (a ``Cancelled``); no way to
    ask raises :class:`ConfirmationRequired`; either way nothing is written. ``name`` overrides the name derived from the file name (``4x-UltraSharp.pth`` ->
    ``4x-ultrasharp``); ``replace`` lets a different file take an installed name.
    """
    candidate = inspect_file(path, name=name, registry=store.registry)
    return confirm_and_install(candidate, store, confirm=confirm, accept=accept, replace=replace)


def confirm_and_install(candidate: CommunityCandidate, store: WeightStore, *, confirm: Confirm | None = None,
                        accept: bool = False, replace: bool = False) -> CommunityInfo:
    """Ask (unless ``accept``), then :func:`install_candidate`; see :func:`import_community`."""
    if not accept:
        if confirm is None:
            raise ConfirmationRequired(
                f"{candidate.path.name} ({candidate.facts.architecture}) was not imported: its licence is unknown to "
                "this app, so it is stored only once you confirm that you may use it.")
        if not confirm(candidate):
            raise ImportDeclined(f"{candidate.path.name} was not imported.")
    return install_candidate(candidate, store, replace=replace)


def install_download(part: Path, spec: WeightSpec, store: WeightStore, *, source: str, source_sha256: str) -> Path:
    """Install a verified download of a community registry entry as the community model ``spec.name``.

    The licence was accepted before the download (consent book); the ``.part`` is deleted afterwards (the store
    keeps the converted copy; the original's SHA-256 is recorded as ``source_sha256``).
    """
    state = _read(part)
    candidate = inspect_state_dict(state, Path(spec.filename), name=spec.name, registry=store.registry,
                                   source_sha256=source_sha256)
    candidate.spec = spec
    info = install_candidate(candidate, store, source=source, replace=True)
    del state, candidate
    part.unlink(missing_ok=True)
    return info.path


# ------------------------------------------------------------------------------------------------ the installed ones
def _info(store: WeightStore, name: str, entry: Mapping[str, Any]) -> CommunityInfo | None:
    data = entry.get("community")
    if not isinstance(data, Mapping) or not isinstance(data.get("facts"), Mapping):
        return None  # written by a newer or broken version: not ours to interpret
    try:
        facts = CommunityFacts.from_json(data["facts"])
    except (TypeError, ValueError, KeyError):
        return None
    file = Path(entry.get("file", ""))
    return CommunityInfo(
        name=name, facts=facts, path=file if file.is_absolute() else store.root / file,
        sha256=str(entry.get("sha256", "")), size=int(entry.get("size", 0) or 0), source=str(entry.get("source", "")),
        source_name=str(data.get("source_name", "")), source_sha256=str(data.get("source_sha256", "")),
        confirmed_at=str(data.get("confirmed_at", "")), licence=str(data.get("licence", UNKNOWN_LICENCE)),
        licence_url=str(data.get("licence_url", "")), registry_name=data.get("registry_name"))


def installed_models(store: WeightStore) -> list[CommunityInfo]:
    """Every recorded community model (whatever state its file is in), in the order installed."""
    return [info for name, entry in store.community_entries().items() if (info := _info(store, name, entry))]


def community_info(store: WeightStore, name: str) -> CommunityInfo | None:
    name = normalise_name(name)
    entry = store.community_entries().get(name)
    return _info(store, name, entry) if entry is not None else None


def _spec_for(info: CommunityInfo) -> WeightSpec:
    """A registry-style description of an installed community model, for status messages."""
    return WeightSpec(name=info.name, role="community", display_name=f"Community model {info.display_name}",
                      description=info.facts.summary, urls=(), filename=info.path.name, size=info.size, sha256=None,
                      license_name=info.licence, license_url=info.licence_url, license_summary="", manifest="")


def _status(store: WeightStore, info: CommunityInfo, hash_when: str) -> WeightStatus:
    entry = store.community_entries()[info.name]
    status = store.check_community(_spec_for(info), entry, hash_when=hash_when)  # type: ignore[arg-type]
    if status.state != "installed":  # installing it again is the way back, whatever the check found
        remedy = Remedy("get_weights", info.registry_name) if info.registry_name else None
        status = WeightStatus(status.spec, status.state, status.path, status.size,
                              status.message + ("" if remedy else " Import its file again."), remedy)
    return status


def statuses(store: WeightStore) -> list[tuple[CommunityInfo, WeightStatus]]:
    """Each installed community model with its state (cheap check; a full hash when its file changed)."""
    return [(info, _status(store, info, "changed")) for info in installed_models(store)]


def verify(store: WeightStore, name: str | None = None) -> list[tuple[CommunityInfo, WeightStatus]]:
    """Hash every community model's file (or just ``name``'s) in full against its record."""
    infos = installed_models(store) if name is None else [_required(store, name)]
    return [(info, _status(store, info, "always")) for info in infos]


def _required(store: WeightStore, name: str) -> CommunityInfo:
    info = community_info(store, name)
    if info is None:
        known = ", ".join(i.name for i in installed_models(store)) or "(none)"
        raise UnknownWeightsError(f"There is no community model {normalise_name(name)!r}. Installed community models: "
                                  f"{known}.")
    return info


def resolve(store: WeightStore, name: str, *, full_hash: bool | None = None) -> CommunityInfo:
    """The installed model ``name``, its file checked (cheap check; ``full_hash`` as in ``WeightStore.resolve``).
    Raises ``UnknownWeightsError`` (not installed), ``WeightsMissingError`` or ``WeightsCorruptError``."""
    from .store import WeightsCorruptError

    info = _required(store, name)
    if full_hash is False and info.path.is_file() and info.path.stat().st_size == info.size:
        return info
    status = _status(store, info, "always" if full_hash else "unverified")
    if status.state == "missing":
        raise WeightsMissingError(status.message, status.remedy)
    if status.state != "installed":
        raise WeightsCorruptError(status.message, status.remedy)
    return info


def remove(store: WeightStore, name: str) -> list[Path]:
    """Forget the community model ``name`` and delete its file; returns the deleted paths."""
    info = _required(store, name)
    return store.remove_entry(COMMUNITY_PREFIX + info.name)
