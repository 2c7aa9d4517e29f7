"""Checkpoint files: every accepted layout loads; everything else fails with one clear message and runs no code."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from sinsr_gui.engine import SinSRPipeline
from sinsr_gui.weights.checkpoint import CheckpointError, load_checkpoint_into, read_state_dict
from tests.conftest import CASE_A

AE = CASE_A / "autoencoder_ckpt.pth"


@pytest.fixture(scope="module")
def ae_state():
    return torch.load(AE, weights_only=True)


def _fresh_autoencoder(config):
    return SinSRPipeline.build_modules(config)[1]


@pytest.mark.parametrize("layout", ["plain", "wrapped", "module", "orig_mod", "both", "safetensors"])
def test_accepted_layouts_load_identically(tmp_path, case_a_config, ae_state, layout):
    if layout == "plain":
        path = AE
    elif layout == "safetensors":
        path = tmp_path / "ae.safetensors"
        save_file({k: v.contiguous() for k, v in ae_state.items()}, str(path))
    else:
        prefix = {"wrapped": "", "module": "module.", "orig_mod": "_orig_mod.", "both": "module._orig_mod."}[layout]
        path = tmp_path / "ae.pth"
        state = {prefix + k: v for k, v in ae_state.items()}
        torch.save({"state_dict": state, "iters_start": 5} if layout != "orig_mod" else state, path)
    module = _fresh_autoencoder(case_a_config)
    load_checkpoint_into(module, path)
    for key, value in module.state_dict().items():
        assert torch.equal(value, ae_state[key]), key


def test_official_ddp_unet_layout_loads(case_a_config):
    unet = SinSRPipeline.build_modules(case_a_config)[0]
    load_checkpoint_into(unet, CASE_A / "unet_ckpt.pth")
    raw = torch.load(CASE_A / "unet_ckpt.pth", weights_only=True)["state_dict"]
    assert torch.equal(unet.state_dict()["out.2.weight"], raw["module.out.2.weight"])


def test_missing_unexpected_and_misshapen_keys_are_named(tmp_path, case_a_config, ae_state):
    state = dict(ae_state)
    del state["decoder.conv_out.bias"]
    state["extra.weight"] = torch.zeros(1)
    state["quant_conv.weight"] = torch.zeros(4, 3, 1, 1)
    path = tmp_path / "broken_ae.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_into(_fresh_autoencoder(case_a_config), path)
    msg = str(err.value)
    assert "broken_ae.pth" in msg
    assert "decoder.conv_out.bias" in msg and "extra.weight" in msg and "quant_conv.weight" in msg


def test_autoencoder_file_into_the_denoiser_is_refused(case_a_config):
    unet = SinSRPipeline.build_modules(case_a_config)[0]
    with pytest.raises(CheckpointError, match="autoencoder_ckpt.pth"):
        load_checkpoint_into(unet, AE)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _Exploit(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_state_dict(path)
    assert not marker.exists()
    raw = tmp_path / "evil_raw.pkl"
    raw.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(CheckpointError):
        read_state_dict(raw)
    assert not marker.exists()


def test_non_checkpoints_get_clear_errors(tmp_path):
    from PIL import Image

    jpeg = tmp_path / "photo.pth"
    Image.new("RGB", (8, 8), "red").save(jpeg, format="JPEG")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(AE.read_bytes()[: AE.stat().st_size // 2])
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    text = tmp_path / "notes.safetensors"
    text.write_text("hello")
    for path in (jpeg, truncated, empty, text, tmp_path / "missing.pth"):
        with pytest.raises(CheckpointError) as err:
            read_state_dict(path)
        assert path.name in str(err.value)
        assert "Traceback" not in str(err.value)


def test_a_pickle_of_non_tensors_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "dict.pth"
    torch.save({"a": 1, "b": "x"}, path)
    with pytest.raises(CheckpointError, match="not tensors"):
        read_state_dict(path)
