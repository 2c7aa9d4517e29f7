"""The ResShift x4 teacher (15 steps) as an app model: its files, whether they are installed, loading."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sinsr_gui.engine.models.sinsr import ModelUnavailable
from sinsr_gui.errors import Remedy
from sinsr_gui.weights.registry import RESSHIFT_WEIGHTS

if TYPE_CHECKING:
    from sinsr_gui.engine.models import ModelRequest
    from sinsr_gui.engine.resshift import ResShiftPipeline


def installed_files(request: ModelRequest) -> tuple[Path, Path] | None:
    """(teacher denoiser, autoencoder) when both are installed (cheap check), else None."""
    from sinsr_gui.weights.store import WeightsError, WeightStore

    store = WeightStore(request.weights_dir)
    try:
        return tuple(store.resolve(name, full_hash=False) for name in RESSHIFT_WEIGHTS)  # type: ignore[return-value]
    except (WeightsError, KeyError):
        return None


def is_installed(request: ModelRequest) -> bool:
    return installed_files(request) is not None


def load(request: ModelRequest) -> ResShiftPipeline:
    from sinsr_gui.engine.config import SinSRConfig
    from sinsr_gui.engine.resshift import ResShiftPipeline, check_sampler

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
