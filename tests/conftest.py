"""Shared fixtures: the reference case_a data, tiny configurations, and an isolated user home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from sinsr_gui.engine.config import AutoencoderConfig, SinSRConfig, UNetConfig

# The weights tests share the `home` and `server` fixtures defined next to the local HTTP test server.
pytest_plugins = ["tests.http_server"]

FIXTURES = Path(__file__).parent / "fixtures"
CASE_A = FIXTURES / "case_a"

# Keep the suite quick and predictable on the 2-core CI machine.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own SINSR_GUI_HOME so nothing reads or writes the real user folders."""
    home = tmp_path_factory.mktemp("sinsr_home")
    monkeypatch.setenv("SINSR_GUI_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def case_a_config() -> SinSRConfig:
    return SinSRConfig.from_json(CASE_A / "config.json")


@pytest.fixture(scope="session")
def golden() -> dict[str, torch.Tensor]:
    return torch.load(CASE_A / "golden.pt", weights_only=True)


def tiny_config() -> SinSRConfig:
    """A very small SinSR-shaped model (sizes are multiples of 16) for fast functional tests."""
    return SinSRConfig(
        unet=UNetConfig(image_size=16, model_channels=32, channel_mult=(1, 1), num_res_blocks=(1, 1),
                        attention_resolutions=(16, 8), num_head_channels=16, swin_embed_dim=32, swin_depth=2),
        autoencoder=AutoencoderConfig(n_embed=64, ch=32, ch_mult=(1, 1, 1), num_res_blocks=1),
    )


@pytest.fixture(scope="session")
def tiny_pipeline():
    from sinsr_gui.engine.pipeline import SinSRPipeline

    return SinSRPipeline.from_config(tiny_config(), seed=0)
