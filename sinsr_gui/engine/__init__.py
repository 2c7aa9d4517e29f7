"""The Qt-free engine: configuration, the SinSR pipeline, tiling, image files and devices.

``SinSRConfig``, ``SinSRPipeline`` and ``ResShiftPipeline`` are loaded on first use, so importing a light submodule such as
``sinsr_gui.engine.imageio`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sinsr_gui.engine.config import AutoencoderConfig, DiffusionConfig, SinSRConfig, UNetConfig
    from sinsr_gui.engine.pipeline import SinSRPipeline
    from sinsr_gui.engine.resshift import ResShiftPipeline

__all__ = ["AutoencoderConfig", "DiffusionConfig", "ResShiftPipeline", "SinSRConfig", "SinSRPipeline", "UNetConfig"]


def __getattr__(name: str) -> Any:
    if name == "SinSRPipeline":
        from sinsr_gui.engine.pipeline import SinSRPipeline

        return SinSRPipeline
    if name == "ResShiftPipeline":
        from sinsr_gui.engine.resshift import ResShiftPipeline

        return ResShiftPipeline
    if name in ("AutoencoderConfig", "DiffusionConfig", "SinSRConfig", "UNetConfig"):
        from sinsr_gui.engine import config

        return getattr(config, name)
    raise AttributeError(f"module 'sinsr_gui.engine' has no attribute {name!r}")
