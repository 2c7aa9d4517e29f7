"""GPU checks (marked ``gpu``): the engine on CUDA matches the CPU reference and the precisions behave.

Run with ``pytest -m gpu tests/test_gpu.py`` on a machine with a CUDA GPU; elsewhere they are skipped.
"""

from __future__ import annotations

import math

import pytest
import torch

from sinsr_gui.engine import SinSRPipeline
from sinsr_gui.engine.tiling import TilingOptions, iter_upscale, run_to_completion
from tests.conftest import CASE_A
from tests.test_engine_golden import STAGE_TOLERANCE

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(autouse=True)
def true_fp32():
    # cuDNN convolutions default to TF32 on Ampere+; the golden comparison needs real float32.
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def _pipe(config, dtype):
    return SinSRPipeline.from_checkpoints(config, unet=CASE_A / "unet_ckpt.pth",
                                          autoencoder=CASE_A / "autoencoder_ckpt.pth", device="cuda", dtype=dtype)


def test_cuda_fp32_matches_the_official_golden_stages(case_a_config, golden):
    stages = _pipe(case_a_config, torch.float32).upscale(golden["lr_01"], noise=golden["noise"], return_stages=True)
    for name, tol in STAGE_TOLERANCE.items():
        diff = (stages[name].cpu() - golden[name]).abs().max().item()
        assert diff <= max(tol, 1e-6), (name, diff)
    assert torch.equal(stages["codebook_indices"].cpu(), golden["codebook_indices"])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, "auto"])
def test_reduced_precision_runs_and_reports_its_accuracy(case_a_config, golden, dtype):
    ref = _pipe(case_a_config, torch.float32).upscale(golden["lr_01"], noise=golden["noise"], return_stages=True)
    out = _pipe(case_a_config, dtype).upscale(golden["lr_01"], noise=golden["noise"], return_stages=True)
    assert out["final_01"].shape == ref["final_01"].shape
    assert torch.isfinite(out["final_01"]).all()
    mse = torch.mean((out["final_01"] - ref["final_01"]) ** 2).item()
    agreement = (out["codebook_indices"] == ref["codebook_indices"]).float().mean().item()
    print(f"{dtype}: PSNR vs fp32 {10 * math.log10(1 / mse) if mse else math.inf:.1f} dB, codes {agreement:.4f}")
    if dtype == "auto":  # encoder and denoiser stay fp32, so the codes are exactly the fp32 ones
        assert agreement == 1.0
        assert 10 * math.log10(1 / mse) > 40


def test_seed_gives_the_same_noise_and_result_on_cpu_and_gpu(case_a_config, golden):
    lr = golden["lr_01"]
    cpu = SinSRPipeline.from_checkpoints(case_a_config, unet=CASE_A / "unet_ckpt.pth",
                                         autoencoder=CASE_A / "autoencoder_ckpt.pth")
    a = cpu.upscale(lr, generator=torch.Generator().manual_seed(4), return_stages=True)
    b = _pipe(case_a_config, torch.float32).upscale(lr, generator=torch.Generator().manual_seed(4), return_stages=True)
    assert torch.equal(a["noise"].cpu(), b["noise"].cpu())
    assert (a["final_01"] - b["final_01"].cpu()).abs().max().item() < 1e-3


def test_tiled_run_on_gpu(tiny_pipeline):
    pipe = SinSRPipeline(tiny_pipeline.config, *SinSRPipeline.build_modules(tiny_pipeline.config), device="cuda",
                         dtype="auto")
    img = torch.rand(70, 90, 3).numpy()
    out = run_to_completion(iter_upscale(pipe, img, TilingOptions(tile=32, overlap=16, batch_size=4),
                                         generator=torch.Generator().manual_seed(0)))
    assert out.shape == (280, 360, 3) and out.min() >= 0 and out.max() <= 1
