"""The Qt-free engine: configuration, the SinSR pipeline, tiling, image files and devices."""

from sinsr_gui.engine.config import AutoencoderConfig, DiffusionConfig, SinSRConfig, UNetConfig
from sinsr_gui.engine.pipeline import SinSRPipeline

__all__ = ["AutoencoderConfig", "DiffusionConfig", "SinSRConfig", "SinSRPipeline", "UNetConfig"]
