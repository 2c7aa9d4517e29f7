"""The ResShift x4 teacher (15 steps) as an app model: its files, whether they are installed, loading."""

from __future__ import annotations

from pathlib import Path

from sinsr_gui.engine.config import SinSRConfig
from sinsr_gui.engine.models.family import FixedFamily
from sinsr_gui.engine.models.sinsr import ModelUnavailable
from sinsr_gui.engine.resshift import RESSHIFT_DESCRIPTOR, ResShiftPipeline, check_sampler
from sinsr_gui.engine.types import ModelRequest
from sinsr_gui.errors import Remedy
from sinsr_gui.weights.registry import RESSHIFT_WEIGHTS
from sinsr_gui.weights.store import WeightsError, WeightStore


def installed_files(request: ModelRequest) -> tuple[Path, Path] | None:
    """(teacher denoiser, autoencoder) when both are installed (cheap check), else None."""
    store = WeightStore(request.weights_dir)
    try:
        return tuple(store.resolve(name, full_hash=False) for name in RESSHIFT_WEIGHTS)  # type: ignore[return-value]
    except (WeightsError, KeyError):
        return None


def is_installed(request: ModelRequest) -> bool:
    return installed_files(request) is not None


def load(request: ModelRequest) -> ResShiftPipeline:
    files = installed_files(request)
    if files is None:
        raise ModelUnavailable("The ResShift teacher weights are not installed (about 700 MB, non-commercial "
                               "licence).", Remedy("get_weights", ",".join(RESSHIFT_WEIGHTS)))
    config = SinSRConfig.from_json(request.config) if request.config else SinSRConfig.sinsr_v1()
    unet, autoencoder = files
    pipe = ResShiftPipeline.from_checkpoints(config, unet=unet, autoencoder=autoencoder, device=request.device,
                                             dtype=request.dtype)
    pipe.sampler = check_sampler(request.sampler)
    return pipe


# The family of this one model: installed when its files are, loaded by :func:`load`.
FAMILY = FixedFamily((RESSHIFT_DESCRIPTOR,), lambda _d, request: is_installed(request), lambda _d, request: load(request))
