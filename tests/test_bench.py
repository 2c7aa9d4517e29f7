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
    assert auto["check"]["codebook_agreement"] == 1.0  # auto keeps the code-choosing stages in fp32
    assert auto["check"]["psnr_db"] > 40
    assert "fp32" in capsys.readouterr().out
