"""The weights the app knows about: where to download them, their licence, and what they must contain.

A :class:`WeightSpec` is pure data. Everything that touches files or the network takes a :class:`Registry`
as an argument, so tests (and a future "custom model" setting) can pass their own entries pointing at a
local server and at small manifests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .manifest import AUTOENCODER_FULL, REALESR_GENERAL_X4V3, REALESRGAN_X4PLUS, UNET_FULL, bundled_manifest

# "community": a super-resolution model run through spandrel; once downloaded it is installed as a community model
# (sinsr_gui.weights.community), not as a file of SinSR.
Role = Literal["denoiser", "autoencoder", "community"]
Shapes = Mapping[str, tuple[int, ...]]

MIRROR_ENV = "SINSR_GUI_MIRROR"  # a base URL; the entry's file name is appended and tried first


# Community models (imported or downloaded files that spandrel recognises) are keyed "community:NAME" in the
# store's index, and chosen under the same name.
COMMUNITY_PREFIX = "community:"


class UnknownWeightsError(KeyError):
    """A weights name that is not in the registry. ``str()`` is the plain message (KeyError quotes it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown weights"


@dataclass(frozen=True)
class WeightSpec:
    """One downloadable checkpoint.

    ``urls`` are tried in order (fallbacks, since release links have died before). ``size`` and ``sha256``
    are checked when known; ``None`` means "unknown": the hash is then recorded on the first verified install.
    The expected keys and shapes come from ``expected_shapes`` when given (tests, custom models), otherwise
    from the bundled manifest named by ``manifest``.
    """

    name: str
    role: Role
    display_name: str
    description: str
    urls: tuple[str, ...]
    filename: str
    size: int | None
    sha256: str | None
    license_name: str
    license_url: str
    license_summary: str
    manifest: str
    # Lower-case words that, found in a file name, pick this entry among entries sharing a manifest.
    name_hints: tuple[str, ...] = ()
    # Excluded from eq/hash: a dict is unhashable and the manifest name already identifies the layout.
    expected_shapes: Shapes | None = field(default=None, compare=False, hash=False, repr=False)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The exact ``{key: shape}`` a valid file must contain (after stripping ``module.`` prefixes)."""
        if self.expected_shapes is not None:
            return {k: tuple(v) for k, v in self.expected_shapes.items()}
        return bundled_manifest(self.manifest)


def candidate_urls(spec: WeightSpec, environ: Mapping[str, str] | None = None) -> list[str]:
    """The URLs to try, in order: the user's mirror (``$SINSR_GUI_MIRROR/<filename>``) first, then
    ``spec.urls``."""
    environ = os.environ if environ is None else environ
    urls: list[str] = []
    mirror = environ.get(MIRROR_ENV, "").strip()
    if mirror:
        urls.append(mirror.rstrip("/") + "/" + spec.filename)
    urls.extend(u for u in spec.urls if u not in urls)
    return urls


class Registry:
    """An ordered, read-only collection of :class:`WeightSpec` by name. Order matters: it is the display
    order and the tie-break when two entries share a manifest (the first one wins).

    Not a ``collections.abc.Mapping`` on purpose: ``get`` raises a helpful error instead of returning None.
    """

    def __init__(self, specs: list[WeightSpec] | tuple[WeightSpec, ...]) -> None:
        self._specs: dict[str, WeightSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"duplicate weights name {spec.name!r}")
            self._specs[spec.name] = spec

    def __getitem__(self, name: str) -> WeightSpec:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return list(self._specs)

    def get(self, name: str) -> WeightSpec:
        """The entry called ``name``; an :class:`UnknownWeightsError` (a ``KeyError``) listing the known
        names otherwise."""
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs) or "(none)"
            raise UnknownWeightsError(f"Unknown weights {name!r}. Known weights: {known}.") from None

    def specs(self) -> list[WeightSpec]:
        return list(self._specs.values())

    def matching(self, shapes: Shapes, roles: tuple[str, ...] | None = None) -> list[WeightSpec]:
        """Every entry (of one of ``roles``, default all) whose expected keys and shapes equal ``shapes``
        exactly, in registry order."""
        wanted = {k: tuple(v) for k, v in shapes.items()}
        return [spec for spec in self._specs.values()
                if (roles is None or spec.role in roles) and spec.shapes() == wanted]


_SLAB_URL = "https://github.com/zsyOAOA/ResShift/blob/master/LICENSE"

SINSR_V1 = WeightSpec(
    name="sinsr_v1",
    role="denoiser",
    display_name="SinSR v1 denoiser",
    description="The one-step SinSR denoiser (Swin-UNet, ~119 M parameters) that does the 4x upscaling.",
    urls=("https://github.com/wyf0912/SinSR/releases/download/v1.0/SinSR_v1.pth",),
    filename="SinSR_v1.pth",
    size=None,
    sha256=None,
    license_name="CC BY-NC-SA 4.0",
    license_url="https://creativecommons.org/licenses/by-nc-sa/4.0/",
    license_summary="Non-commercial use only (academic research), with attribution; share adaptations alike.",
    manifest=UNET_FULL,
    name_hints=("sinsr",),
)

VQ_F4 = WeightSpec(
    name="vq_f4",
    role="autoencoder",
    display_name="VQ-f4 autoencoder",
    description="The VQ-GAN autoencoder (~55 M parameters) mapping images to and from SinSR's latent space.",
    urls=("https://github.com/zsyOAOA/ResShift/releases/download/v2.0/autoencoder_vq_f4.pth",),
    filename="autoencoder_vq_f4.pth",
    size=None,
    sha256=None,
    license_name="S-Lab License 1.0",
    license_url=_SLAB_URL,
    license_summary="Non-commercial use only; redistribution must keep the licence; no warranty.",
    manifest=AUTOENCODER_FULL,
    name_hints=("vq", "autoencoder"),
)

RESSHIFT_X4_S15 = WeightSpec(
    name="resshift_x4_s15",
    role="denoiser",
    display_name="ResShift x4 15-step teacher",
    description="The 15-step ResShift x4 model SinSR was distilled from (same architecture as the denoiser).",
    urls=("https://github.com/zsyOAOA/ResShift/releases/download/v2.0/resshift_realsrx4_s15_v1.pth",),
    filename="resshift_realsrx4_s15_v1.pth",
    size=None,
    sha256=None,
    license_name="S-Lab License 1.0",
    license_url=_SLAB_URL,
    license_summary="Non-commercial use only; redistribution must keep the licence; no warranty.",
    manifest=UNET_FULL,
    name_hints=("resshift",),
)

DEFAULT_REGISTRY = Registry([SINSR_V1, VQ_F4, RESSHIFT_X4_S15])

# The registry entries SinSR needs: its denoiser and the VQ-f4 autoencoder (the one place this pair is named).
SINSR_WEIGHTS = (SINSR_V1.name, VQ_F4.name)
# ... and what its 15-step teacher needs (the same autoencoder).
RESSHIFT_WEIGHTS = (RESSHIFT_X4_S15.name, VQ_F4.name)

# ------------------------------------------------------------------------------------------ community downloads
# Permissively licensed community models from their official release pages. Downloaded like SinSR's files, then
# installed as community models (run through spandrel). Their size and SHA-256 are not known here (the files
# cannot be fetched from this build machine): the first verified install records the hash, and the layout is
# checked against a manifest generated from spandrel's own architecture (scripts/make_community_manifests.py).
_REALESRGAN_LICENCE = dict(
    license_name="BSD-3-Clause",
    license_url="https://github.com/xinntao/Real-ESRGAN/blob/master/LICENSE",
    license_summary="Permissive: use, modify and redistribute (also commercially), keeping the copyright notice.",
)

REALESRGAN_X4PLUS_SPEC = WeightSpec(
    name="realesrgan_x4plus",
    role="community",
    display_name="Real-ESRGAN x4plus",
    description="Real-ESRGAN's general x4 model for real photos (ESRGAN/RRDBNet, 23 blocks, ~16.7 M parameters).",
    urls=("https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",),
    filename="RealESRGAN_x4plus.pth",
    size=None,
    sha256=None,
    manifest=REALESRGAN_X4PLUS,
    name_hints=("x4plus",),
    **_REALESRGAN_LICENCE,
)

REALESR_GENERAL_X4V3_SPEC = WeightSpec(
    name="realesr_general_x4v3",
    role="community",
    display_name="Real-ESRGAN general x4v3",
    description="Real-ESRGAN's small, fast x4 model for general scenes (SRVGG compact, 32 convs, ~1.2 M parameters).",
    urls=("https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.5.0/realesr-general-x4v3.pth",),
    filename="realesr-general-x4v3.pth",
    size=None,
    sha256=None,
    manifest=REALESR_GENERAL_X4V3,
    name_hints=("general",),
    **_REALESRGAN_LICENCE,
)

COMMUNITY_REGISTRY = Registry([REALESRGAN_X4PLUS_SPEC, REALESR_GENERAL_X4V3_SPEC])
# Everything the weights manager offers (the command line's and the app's default): SinSR's files first, then the
# community downloads. DEFAULT_REGISTRY stays "what SinSR and its teacher need".
APP_REGISTRY = Registry([*DEFAULT_REGISTRY.specs(), *COMMUNITY_REGISTRY.specs()])
