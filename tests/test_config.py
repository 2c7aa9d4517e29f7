"""SinSRConfig: the v1 preset, the reference config.json format, and loud failures on bad options."""

from __future__ import annotations

import json

import pytest

from sinsr_gui.engine.config import ConfigError, SinSRConfig
from tests.conftest import CASE_A


def test_reference_config_json_is_read(case_a_config):
    cfg = case_a_config
    assert cfg.unet.model_channels == 32 and cfg.unet.channel_mult == (1, 1, 1, 2)
    assert cfg.unet.num_head_channels == 8 and cfg.unet.swin_embed_dim == 32
    assert cfg.autoencoder.n_embed == 256 and cfg.autoencoder.ch_mult == (1, 1, 2)
    assert cfg.autoencoder.num_res_blocks == 1
    assert cfg.diffusion.kappa == 2.0 and cfg.diffusion.power == 0.3 and cfg.diffusion.steps == 15


def test_round_trip_through_our_own_dict_layout():
    cfg = SinSRConfig.sinsr_v1()
    assert SinSRConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_option_fails_loudly(tmp_path):
    data = json.loads((CASE_A / "config.json").read_text())
    key = next(k for k in data if k.startswith("unet"))
    data[key]["model_chanels"] = 64
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="model_chanels"):
        SinSRConfig.from_json(path)


def test_unsupported_value_fails_loudly(tmp_path):
    data = json.loads((CASE_A / "config.json").read_text())
    key = next(k for k in data if k.startswith("diffusion"))
    data[key]["predict_type"] = "epsilon"
    path = tmp_path / "eps.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="predict_type"):
        SinSRConfig.from_json(path)


def test_unreadable_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        SinSRConfig.from_json(path)
