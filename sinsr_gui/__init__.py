"""SinSR desktop super-resolution: a 4x photo upscaler built on a one-step diffusion model."""

__version__ = "0.1.0"
