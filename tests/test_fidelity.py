"""The default float32 path (channels-last) is as accurate as the official code on every CPU.

Against a float64 run of the *same* modules, full-size SinSR v1 preset with seeded random weights, one 64x64
LR input: z_y and decoded_full within 3e-5. Before the shifted-mean GroupNorm, the channels-last float32
path was 2.9e-4 off on z_y on an Intel Xeon (AMX) machine, where NCHW was 8e-6 (the official code's own
thread-to-thread noise is 6.5e-6).
"""

from __future__ import annotations

import copy

import pytest
import torch

from sinsr_gui.diffusion.sinsr_step import sinsr_single_step
from sinsr_gui.engine import SinSRConfig, SinSRPipeline
from sinsr_gui.nn.common import GroupNorm32

TOLERANCE = 3e-5


def test_group_norm_is_accurate_in_channels_last_float32_whatever_the_mean():
    torch.manual_seed(0)
    norm = GroupNorm32(32, 128, eps=1e-6)
    torch.nn.init.normal_(norm.weight)
    for mean in (0.0, 20.0, 100.0):
        x = (torch.randn(1, 128, 64, 64) * 2 + mean).contiguous(memory_format=torch.channels_last)
        ref = torch.nn.functional.group_norm(x.double(), 32, norm.weight.double(), norm.bias.double(), 1e-6)
        with torch.no_grad():
            out = norm(x)
        assert out.is_contiguous(memory_format=torch.channels_last)  # the fast layout is kept
        assert (out.double() - ref).abs().max() < 2e-5, mean


@pytest.mark.slow
def test_full_size_float32_path_matches_float64_of_the_same_modules():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    pipe = SinSRPipeline.from_config(SinSRConfig.sinsr_v1(), device="cpu", dtype=torch.float32, seed=0)
    gen = torch.Generator().manual_seed(7)
    lr = torch.rand(1, 3, 64, 64, generator=gen)
    noise = pipe.noise_field(1, 64, 64, gen)
    ours = pipe.upscale(lr, noise=noise, return_stages=True)  # the default layout: channels-last

    unet64 = copy.deepcopy(pipe.unet).double().to(memory_format=torch.contiguous_format)
    ae64 = copy.deepcopy(pipe.autoencoder).double().to(memory_format=torch.contiguous_format)
    ref: dict = {}
    with torch.inference_mode():
        sinsr_single_step(ours["lq_padded"].double(), noise.double(), unet=unet64, autoencoder=ae64,
                          schedule=pipe.schedule, stages=ref)
    for key in ("z_y", "decoded_full"):
        err = (ours[key].double() - ref[key].double()).abs().max().item()
        assert err <= TOLERANCE, f"{key}: {err:.2e} off float64"
    assert torch.equal(ours["codebook_indices"], ref["codebook_indices"])
