"""Using checkpoint files the user already has: recognise them, verify them, copy them into the store.

The source file is only ever read: never modified, moved or deleted. :func:`import_file` handles SinSR's files
(the denoiser, the teacher, the autoencoder); :func:`import_weights` is the one entry point for any file: SinSR's
by their manifests, anything else as a community model through spandrel (:mod:`.community`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import atomic_path
from . import community
from .checkpoint import CheckpointError, read_state_dict, savable_state, shapes_of
from .registry import DEFAULT_REGISTRY, Registry, Shapes, WeightSpec
from .store import VerificationError, WeightsMissingError, WeightStore, check_shapes, verify_file

if TYPE_CHECKING:
    from .community import CommunityInfo, Confirm

SINSR_ROLES = ("denoiser", "autoencoder")  # the entries import_file installs; "community" ones go through spandrel


@dataclass(frozen=True)
class Identification:
    """Which registry entry a file is, and why (shown to the user when the choice was a guess)."""

    spec: WeightSpec
    candidates: tuple[WeightSpec, ...]  # every entry with this exact layout, in registry order
    reason: str


@dataclass(frozen=True)
class ImportResult:
    name: str
    path: Path  # the installed file inside the store
    sha256: str
    note: str  # how the file was identified


def identify_shapes(
    shapes: Shapes, *, registry: Registry = DEFAULT_REGISTRY, filename: str = "", expected: str | None = None
) -> Identification | None:
    """Match ``{key: shape}`` against every registry manifest; None when nothing matches exactly.

    Entries can share a layout (the SinSR denoiser and the ResShift teacher are the same network), so a tie is
    broken by ``expected`` (the entry the caller asked for), then by the file name (``name_hints``), then by
    registry order (``sinsr_v1`` first). The reason says which rule decided.
    """
    matches = tuple(registry.matching(shapes, roles=SINSR_ROLES))
    if not matches:
        return None
    if len(matches) == 1:
        return Identification(matches[0], matches, f"It matches the {matches[0].display_name} exactly.")
    same = " and the ".join(m.display_name for m in matches)
    same = f"The {same} have the same layout"
    for spec in matches:
        if spec.name == expected:
            return Identification(spec, matches, f"{same}; using {spec.name} as asked.")
    lowered = filename.lower()
    by_name = [spec for spec in matches if any(hint in lowered for hint in spec.name_hints)]
    if len(by_name) == 1:
        return Identification(by_name[0], matches, f"{same}; chose {by_name[0].name} from the file name.")
    other = matches[1].name
    return Identification(
        matches[0],
        matches,
        f"{same} and the file name does not say which, so it was taken as {matches[0].name}; "
        f"if it is the other one, import it again with --as {other}.",
    )


def identify(
    path: str | os.PathLike[str], *, registry: Registry = DEFAULT_REGISTRY, expected: str | None = None
) -> WeightSpec | None:
    """The registry entry whose keys and shapes ``path`` has, or None. Reads the file safely
    (raises :class:`~sinsr_gui.weights.checkpoint.CheckpointError` if it cannot be read at all)."""
    path = Path(path)
    found = identify_shapes(
        shapes_of(read_state_dict(path)), registry=registry, filename=path.name, expected=expected
    )
    return found.spec if found else None


def import_file(
    path: str | os.PathLike[str],
    store: WeightStore,
    name: str | None = None,
    convert_to_safetensors: bool = True,
) -> ImportResult:
    """Verify ``path`` and install a copy into ``store``; the source is only read.

    ``name`` says which entry it is (checked); without it the file is identified (:func:`identify_shapes`).
    With ``convert_to_safetensors`` the stripped state dict is written as ``<name>.safetensors`` (fast,
    code-free loading from then on); otherwise the bytes are copied under the official file name. Either way
    the copy is written to a temporary name, verified, then renamed into place in one step.
    Raises :class:`~sinsr_gui.weights.store.VerificationError` for a file that is not usable.
    """
    registry = store.registry
    src = Path(path).expanduser().resolve()
    if not src.is_file():
        raise WeightsMissingError(f"{src} does not exist or is not a file.")
    try:
        state = read_state_dict(src)
    except CheckpointError as exc:
        raise VerificationError(str(exc)) from exc
    shapes = shapes_of(state)
    if name is not None:
        spec = registry.get(name)
        if spec.role not in SINSR_ROLES:
            raise VerificationError(f"The {spec.display_name} is a community model: import it with import_weights "
                                    "(it is recognised by spandrel and stored with its facts).")
        check_shapes(shapes, spec, registry, label=src.name)
        note = f"checked as {spec.name}"
    else:
        found = identify_shapes(shapes, registry=registry, filename=src.name)
        if found is None:
            known = ", ".join(f"{s.name} ({s.display_name})" for s in registry.specs() if s.role in SINSR_ROLES)
            raise VerificationError(
                f"{src.name} does not match any known weights ({known}): its keys or shapes differ. "
                "Is it a SinSR, ResShift or VQ-f4 checkpoint?"
            )
        spec, note = found.spec, found.reason

    store.root.mkdir(parents=True, exist_ok=True)
    dest = store.import_path(spec.name) if convert_to_safetensors else store.download_path(spec.name)
    if dest.resolve() == src:
        # Importing the store's own file: nothing to copy, just (re)verify and record it.
        del state
        digest = verify_file(src, spec, registry, check_published=False)
        store.record(spec.name, dest, digest, source=str(src))
        return ImportResult(spec.name, dest, digest, note)

    # The rename happens only when the block ends without an error, so a file that fails verification
    # never replaces anything; the temp file is removed either way.
    with atomic_path(dest) as tmp:
        if convert_to_safetensors:
            from safetensors.torch import save_file

            save_file(savable_state(state), str(tmp), metadata={"weights": spec.name, "source": src.name})
        else:
            shutil.copyfile(src, tmp)
        del state  # release the (memory-mapped) source before renaming over anything
        # Verify what was written, not what was read: catches a full disk or a bad conversion.
        digest = verify_file(tmp, spec, registry, label=dest.name, check_published=False)
    store.record(spec.name, dest, digest, source=str(src))
    return ImportResult(spec.name, dest, digest, note)


def import_weights(
    path: str | os.PathLike[str],
    store: WeightStore,
    *,
    name: str | None = None,
    convert_to_safetensors: bool = True,
    confirm: Confirm | None = None,
    accept: bool = False,
    replace: bool = False,
) -> ImportResult | CommunityInfo:
    """Import any weights file: SinSR's own files as :func:`import_file` does (an :class:`ImportResult`), anything
    else as a community model (:func:`~sinsr_gui.weights.community.import_community`: recognised by spandrel,
    confirmed by the user through ``confirm``/``accept``; a ``CommunityInfo``).

    ``name``: a registry entry (checked as that file) or the name to store a community model under. An ncnn pair
    (``MODEL.param`` or ``MODEL.bin``, the other beside it) is converted (:mod:`.ncnn`) and is a community model.
    Raises what those two raise; a file that is neither says so in one sentence.
    """
    src = Path(path).expanduser().resolve()
    registry = store.registry
    if name is not None and name in registry and registry.get(name).role in SINSR_ROLES:
        return import_file(src, store, name=name, convert_to_safetensors=convert_to_safetensors)
    if not src.is_file():
        raise WeightsMissingError(f"{src} does not exist or is not a file.")
    from .ncnn import is_ncnn_file

    if is_ncnn_file(src):  # an ncnn pair (.param + .bin): converted, then the community path like any other file
        candidate = community.inspect_file(src, name=name, registry=registry)
        return community.confirm_and_install(candidate, store, confirm=confirm, accept=accept, replace=replace)
    try:
        state = read_state_dict(src)
    except CheckpointError as exc:
        raise VerificationError(str(exc), exc.remedy) from exc
    if name is None and identify_shapes(shapes_of(state), registry=registry, filename=src.name) is not None:
        del state
        return import_file(src, store, convert_to_safetensors=convert_to_safetensors)
    from sinsr_gui.weights.spandrel_support import SpandrelMissing

    try:
        candidate = community.inspect_state_dict(state, src, name=name, registry=registry)
    except SpandrelMissing as exc:
        raise community.CommunityModelError(f"{src.name} is not one of SinSR's files; {exc}") from exc
    del state
    return community.confirm_and_install(candidate, store, confirm=confirm, accept=accept, replace=replace)
