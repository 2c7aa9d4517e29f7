"""Our modules have the official parameter layout and reproduce the official numerical quirks."""

from __future__ import annotations

import json
import math
import struct

import torch

from sinsr_gui.diffusion.schedule import ShiftSchedule
from sinsr_gui.engine import SinSRConfig, SinSRPipeline
from sinsr_gui.nn.swin import relative_position_index, shifted_window_mask, window_merge, window_partition
from sinsr_gui.nn.unet import timestep_embedding
from sinsr_gui.nn.vqgan import VectorQuantizer
from tests.conftest import FIXTURES


def _manifest(name):
    return json.loads((FIXTURES / f"manifest_{name}_full.json").read_text())


def _build_v1_on_meta():
    with torch.device("meta"):
        return SinSRPipeline.build_modules(SinSRConfig.sinsr_v1())


def test_v1_preset_keys_shapes_and_order_equal_the_official_manifests():
    unet, autoencoder = _build_v1_on_meta()
    for module, name in ((unet, "unet"), (autoencoder, "autoencoder")):
        manifest = _manifest(name)
        ours = [(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in module.state_dict().items()]
        official = [(e["key"], e["shape"], e["dtype"]) for e in manifest["state_dict"]]
        assert ours == official
        assert sum(p.numel() for p in module.parameters()) == manifest["num_parameters"]


def test_v1_preset_equals_official_constructor_arguments():
    official = _manifest("unet")["constructor_kwargs"]
    ours = SinSRConfig.sinsr_v1().unet
    for key in ("image_size", "in_channels", "model_channels", "out_channels", "num_head_channels",
                "swin_depth", "swin_embed_dim", "window_size", "mlp_ratio", "use_scale_shift_norm"):
        assert getattr(ours, key) == official[key], key
    assert list(ours.channel_mult) == official["channel_mult"]
    assert list(ours.attention_resolutions) == official["attention_resolutions"]


def _official_procedure_mask(height, width, window, shift):
    """Re-derive the mask the way the official code's *procedure* does it, step by step, independently of
    the closed form in sinsr_gui.nn.swin: label a (1, 1, H, W) map with NHWC-style slices (which land on the
    channel and row axes), cut windows, flatten each window column-major, then compare labels pairwise."""
    labels = torch.zeros(1, 1, height, width)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    count = 0
    for a in cuts:
        for b in cuts:
            labels[:, a, b, :] = count
            count += 1
    wins = labels.view(1, 1, height // window, window, width // window, window)
    wins = wins.permute(0, 2, 4, 3, 5, 1).reshape(-1, window, window, 1)  # (nW, row, col, 1)
    flat = wins.permute(0, 2, 3, 1).reshape(-1, window * window)  # column-major flattening
    diff = flat[:, None, :] - flat[:, :, None]
    return torch.where(diff != 0, -100.0, 0.0)


def test_shifted_window_mask_is_the_official_nonstandard_one():
    for h, w in ((64, 64), (32, 48), (16, 16), (8, 24)):
        ours = shifted_window_mask(h, w, 8, 4, torch.device("cpu"))
        assert torch.equal(ours, _official_procedure_mask(h, w, 8, 4)), (h, w)
    mask = shifted_window_mask(16, 16, 8, 4, torch.device("cpu"))
    assert mask[0].abs().sum() == 0 and mask[1].abs().sum() == 0  # top row of windows: unmasked
    assert mask[2].abs().sum() > 0  # bottom row: masked by in-window column
    # Tokens in the same in-window column but different rows are never separated (standard Swin would).
    assert mask[3][0, 8] == 0 and mask[3][0, 4] == -100


def test_stored_attn_mask_buffers_equal_the_recomputed_mask(case_a_config):
    sd = torch.load(FIXTURES / "case_a" / "unet_ckpt.pth", weights_only=True)["state_dict"]
    stored = sd["module.input_blocks.1.1.blocks.1.attn_mask"]
    assert torch.equal(stored, shifted_window_mask(64, 64, 8, 4, torch.device("cpu")))


def test_relative_position_index_matches_checkpoint():
    sd = torch.load(FIXTURES / "case_a" / "unet_ckpt.pth", weights_only=True)["state_dict"]
    assert torch.equal(sd["module.input_blocks.1.1.blocks.0.attn.relative_position_index"], relative_position_index(8))


def test_window_partition_round_trip_and_row_major_order():
    x = torch.arange(2 * 3 * 16 * 24, dtype=torch.float32).view(2, 3, 16, 24)
    windows = window_partition(x, 8)
    assert windows.shape == (2, 6, 64, 3)
    assert torch.equal(windows[0, 1, :8, 0], x[0, 0, 0, 8:16])  # window 1 is the second across; row-major tokens
    assert torch.equal(window_merge(windows, 8, 16, 24), x)


def test_timestep_embedding_is_cos_first():
    emb = timestep_embedding(torch.tensor([14]), 160)
    assert emb.shape == (1, 160) and emb.dtype == torch.float32
    assert math.isclose(emb[0, 0].item(), math.cos(14.0), abs_tol=1e-6)
    assert math.isclose(emb[0, 80].item(), math.sin(14.0), abs_tol=1e-6)


def _f32_hex(t: torch.Tensor) -> str:
    return struct.pack(">f", t.item()).hex()


def test_schedule_matches_official_arrays_and_float32_constants():
    ref = json.loads((FIXTURES / "diffusion_schedule.json").read_text())
    sched = ShiftSchedule.exponential(steps=15, min_noise_level=0.04, etas_end=0.99, kappa=2.0, power=0.3)
    for ours, theirs in zip(sched.sqrt_etas, ref["arrays"]["sqrt_etas"]["float64"]):
        assert math.isclose(ours, theirs, rel_tol=1e-14)
    one = ref["one_step"]
    assert _f32_hex(sched.prior_noise_scale(14)) == one["prior_noise_coef kappa*sqrt_etas[T-1]"]["float32_hex"]
    assert _f32_hex(sched.input_scale(14)) == one["input_scaling_std sqrt(etas[T-1]*kappa^2+1)"]["float32_hex"]


def test_quantizer_search_is_exact_float32_and_chunked(monkeypatch):
    torch.manual_seed(0)
    vq = VectorQuantizer(n_embed=300, embed_dim=3)
    z = torch.randn(2, 3, 9, 11)
    zf = z.permute(0, 2, 3, 1).reshape(-1, 3).double()
    exact = torch.cdist(zf, vq.embedding.weight.double()).argmin(dim=1)
    import sinsr_gui.nn.vqgan as vqgan

    monkeypatch.setattr(vqgan, "QUANTIZER_CHUNK", 7)  # many chunks, ragged last one
    assert torch.equal(vq.nearest_indices(z), exact)
    # A bf16 latent is searched in float32: the same indices as searching its float32 copy.
    zb = z.bfloat16()
    assert torch.equal(vq.nearest_indices(zb), vq.nearest_indices(zb.float()))
    quantized, idx = vq(z)
    assert (quantized - vq.embedding.weight[idx].view(2, 9, 11, 3).permute(0, 3, 1, 2)).abs().max() < 1e-6


def test_group_norm_in_reduced_precision_uses_float32_statistics():
    from sinsr_gui.nn.common import group_norm

    torch.manual_seed(0)
    gn = group_norm(64, eps=1e-6)
    gn.weight.data.normal_(1, 0.1)
    gn.bias.data.normal_(0, 0.1)
    x = (torch.randn(2, 64, 16, 16) * 3 + 5).contiguous(memory_format=torch.channels_last)
    ref = torch.nn.functional.group_norm(x.bfloat16().float(), 32, gn.weight, gn.bias, 1e-6)
    out = gn(x.bfloat16())
    assert out.dtype == torch.bfloat16
    # Only the final rounding to bf16 differs from a float32 computation (statistics of a large offset
    # computed in bf16 would be off by far more).
    assert (out.float() - ref).abs().max().item() <= 2 ** -7 * ref.abs().max().item()
