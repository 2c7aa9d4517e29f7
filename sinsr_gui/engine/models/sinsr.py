"""SinSR v1 as an app model: which files it needs, whether they are installed, and how to load them."""

from __future__ import annotations

from pathlib import Path

from sinsr_gui.engine.config import SinSRConfig
from sinsr_gui.engine.models.family import FixedFamily
from sinsr_gui.engine.pipeline import SINSR_DESCRIPTOR, SinSRPipeline
from sinsr_gui.engine.types import ModelRequest
from sinsr_gui.errors import Remedy, UserError
from sinsr_gui.weights.registry import SINSR_WEIGHTS
from sinsr_gui.weights.store import WeightsError, WeightStore


class ModelUnavailable(UserError):
    """The chosen model cannot be used; the remedy says how to get it."""


def get_weights_remedy() -> Remedy:
    return Remedy("get_weights", ",".join(SINSR_WEIGHTS))


def installed_files(request: ModelRequest) -> tuple[Path, Path] | None:
    """(denoiser, autoencoder): the explicit files of the request, else the installed ones, else None.

    The cheap check only (present, recorded size); the loader verifies the contents.
    """
    if request.unet or request.autoencoder:
        if not (request.unet and request.autoencoder):
            raise ModelUnavailable("SinSR needs both checkpoint files, the denoiser and the autoencoder.")
        return request.unet, request.autoencoder
    store = WeightStore(request.weights_dir)
    try:
        return tuple(store.resolve(name, full_hash=False) for name in SINSR_WEIGHTS)  # type: ignore[return-value]
    except (WeightsError, KeyError):
        return None


def is_installed(request: ModelRequest) -> bool:
    return installed_files(request) is not None


def not_installed() -> ModelUnavailable:
    return ModelUnavailable("The SinSR weights are not installed (about 700 MB, non-commercial licence).",
                            get_weights_remedy())


def load(request: ModelRequest) -> SinSRPipeline:
    files = installed_files(request)
    if files is None:
        raise not_installed()
    config = SinSRConfig.from_json(request.config) if request.config else SinSRConfig.sinsr_v1()
    unet, autoencoder = files
    return SinSRPipeline.from_checkpoints(config, unet=unet, autoencoder=autoencoder, device=request.device,
                                          dtype=request.dtype)


# The family of this one model: installed when its files are, loaded by :func:`load`.
FAMILY = FixedFamily((SINSR_DESCRIPTOR,), lambda _d, request: is_installed(request), lambda _d, request: load(request))
