"""The benchmark runs end to end (on the small reference architecture) and writes a complete JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

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


def test_e2e_table_replaces_its_own_section_only(tmp_path):
    from sinsr_gui import bench_e2e

    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nintro\n", encoding="utf-8")
    meta = {"cpu": "Test CPU", "threads": 2, "torch": "x", "date": "today", "load_average": (1.0, 1.0, 1.0),
            "command": "python -m sinsr_gui.bench --e2e"}
    bench_e2e.write_markdown(doc, "| a |\n|---|\n| 1 |", meta)
    bench_e2e.write_markdown(doc, "| a |\n|---|\n| 2 |", meta)
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Performance\n\nintro\n") and text.count(bench_e2e.SECTION_START) == 1
    assert "| 2 |" in text and "| 1 |" not in text and "Test CPU" in text
    assert "otherwise idle" in text  # a load of 1.0 is the benchmark's own 2 threads


def test_e2e_load_note_blames_other_work_only_beyond_the_benchmark_s_own_threads():
    from sinsr_gui import bench_e2e

    assert "otherwise idle" in bench_e2e.load_note(1.9, 2)
    assert "other work shared the CPU" in bench_e2e.load_note(7.3, 2)


@pytest.mark.slow
def test_e2e_benchmark_times_every_phase_of_the_use_case(tmp_path):
    """One built-in model on one small real-format photo: the phases add up to at most the file's time, the
    startup is a separate process, and the JSON names the CPU."""
    from PIL import Image

    from sinsr_gui import bench_e2e

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(photos / "a.jpg", quality=90)
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(photos / "b.png")
    out = tmp_path / "e2e.json"
    assert bench_e2e.main(["--photos", str(photos), "--models", "photo", "--no-big", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["cpu"] and report["threads"] >= 1
    model = report["models"][0]
    row = model["files"][0]
    assert row["output_size"] == [224, 160]
    phases = row["read_s"] + row["network_s"] + row["colour_fix_s"] + row["encode_s"]
    assert 0 < phases <= row["seconds"] and min(row["read_s"], row["network_s"], row["encode_s"]) > 0
    assert row["colour_fix_s"] > 0  # Photo's automatic colour fix is the wavelet fix
    assert model["startup"]["process_s"] > model["startup"]["load_s"] > 0
    assert model["plain"]["app_vs_fp32_whole"]["psnr_db"] > 40
    assert set(model["plain"]["seconds"]) >= {"fp32-nchw", "fp32-cl"}
    # The ratio to plain PyTorch is over every photo, each against its own plain time.
    per_photo = model["plain"]["best_s_per_photo"]
    assert set(per_photo) == {"a.jpg", "b.png"} and min(per_photo.values()) > 0
    ratios = sorted(f["seconds"] / per_photo[f["photo"]] for f in model["files"])
    assert model["summary"]["file_over_best_plain"] == pytest.approx(sum(ratios) / 2)


@pytest.mark.slow
def test_gpu_perf_script_runs_dry_on_the_cpu(tmp_path):
    """scripts/gpu_perf.py (prepared for one lent GPU run) completes every part with tiny sizes on the CPU."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_perf", Path(__file__).parents[1] / "scripts" / "gpu_perf.py")
    gpu_perf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_perf)
    out = tmp_path / "gpu.json"
    assert gpu_perf.main(["--dry-run", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {r["model"] for r in report["end_to_end"]} == {"photo", "faithful", "detail", "sinsr"}
    assert all(r["warm_s"] > 0 for r in report["end_to_end"])
    assert {r["variant"] for r in report["sinsr_tile"]["results"]} == {"fp32", "auto"}
    assert all(r["equal"] for r in report["memory_caps"])


RELEASE_PROBE = """
from sinsr_gui.process_memory import release_freed_memory, status_bytes
chunks = [b"x" * 65536 for _ in range(2000)]  # 131 MB on the C heap (below malloc's mmap threshold), touched
pin = b"y" * 65536  # above them: free() alone cannot shrink the heap past it
before = status_bytes("VmRSS")
del chunks
freed = status_bytes("VmRSS")
release_freed_memory()
print(before, freed, status_bytes("VmRSS"))
"""


def test_freed_memory_is_handed_back_before_a_peak_is_measured():
    """The e2e benchmark's memory column measures from what is in use: memory an earlier model freed but the
    allocator kept would otherwise hide the next model's peak (it showed 0.00 GB for Real-ESRGAN x4plus)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", RELEASE_PROBE], capture_output=True, text=True, check=True)
    before, freed, released = (int(v) for v in out.stdout.split())
    assert freed > before - 30e6, "free() alone already returned the memory: the probe no longer tests anything"
    assert released < freed - 100e6
