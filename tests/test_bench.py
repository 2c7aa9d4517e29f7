"""The benchmark runs end to end (on the small reference architecture) and writes a complete JSON report."""

from __future__ import annotations

import json

from sinsr_gui import bench
from tests.conftest import CASE_A


def test_bench_reports_stages_speed_and_accuracy(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--device", "cpu", "--config", str(CASE_A / "config.json"), "--tiles", "64", "--runs", "1",
                       "--variants", "fp32", "auto", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"].startswith("CPU")
    names = [r["variant"] for r in report["results"]]
    assert names == ["fp32", "auto"]
    auto = report["results"][1]
    assert set(auto["stages"]) == {"encoder", "unet", "quantizer", "decoder"}
    assert auto["flops"] > 1e9 and auto["achieved_flops_per_s"] > 0 and auto["fraction_of_peak"] > 0
    # auto keeps the code-choosing stages in fp32: a code may differ only where float32 rounding within the golden
    # data's tolerance could flip it (a near-tie on this input), never more than a handful of the 4,096.
    assert auto["check"]["codebook_flips_beyond_tolerance"] == 0
    assert auto["check"]["codebook_agreement"] >= 0.999
    assert auto["check"]["psnr_db"] > 40
    assert "fp32" in capsys.readouterr().out


def test_a_codebook_flip_counts_only_beyond_the_golden_tolerance():
    import torch

    codebook = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    # Position 0 sits 1e-6 from the midpoint of codes 0 and 1 (a near-tie: rounding may flip it); position 1 is
    # right on code 0, far from code 2.
    latent = torch.tensor([[0.5 - 1e-6, 0.0, 0.0], [0.0, 0.0, 0.0]]).T.reshape(1, 3, 1, 2)
    ref = torch.tensor([0, 0])
    assert bench.flips_beyond_tolerance(latent, ref, torch.tensor([1, 0]), codebook) == 0
    assert bench.flips_beyond_tolerance(latent, ref, torch.tensor([0, 2]), codebook) == 1
    assert bench.flips_beyond_tolerance(latent, ref, ref.clone(), codebook) == 0
