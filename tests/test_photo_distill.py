"""Photo v3 training (sinsr_gui/training/photo_distill.py, teacher.py): the colour-anchored target, the exact
deepening of the start model, the per-sample data stream, resume bit for bit, and the exported card.

The teacher here is a tiny random RRDB network in BasicSR's layout (2 blocks, 8 features), so the tests run in
seconds; the real teacher is the built-in Most detail file (its conversion: tests/test_builtin_detail.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from sinsr_gui.nn.compact import CompactSRNet
from sinsr_gui.nn.rrdb import RRDBNet
from sinsr_gui.training import photo_distill as pd
from sinsr_gui.training.teacher import DEFAULT_TEACHER, Teacher
from sinsr_gui.weights.builtin import DETAIL, load_builtin_model


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = RRDBNet(num_feat=8, num_block=2, num_grow_ch=4)
    path = tmp_path_factory.mktemp("teacher") / "tiny_rrdb.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(0)
    for i in range(3):
        base = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(base).resize((96, 80), Image.Resampling.BICUBIC).save(folder / f"img{i}.png")
    return folder


def _cfg(tmp_path: Path, teacher: Path, hr_folder: Path, **kw) -> pd.DistillConfig:
    variants = {"plain": pd.StudentLosses(), "gan": pd.StudentLosses(perceptual=0.5, adversarial=0.05)}
    base = dict(data=[str(hr_folder)], out=str(tmp_path / "run"), teacher=str(teacher), variants=variants,
                steps=4, batch=2, lr_patch=16, warmup=2, d_warmup=1, num_conv=2, checkpoint_every=2, log_every=1)
    return pd.DistillConfig(**(base | kw))


def test_colour_anchor_keeps_teacher_detail_and_takes_ground_truth_colour():
    torch.manual_seed(1)
    hr = torch.rand(1, 3, 64, 64) * 0.5 + 0.25
    texture = 0.05 * torch.sign(torch.randn(1, 3, 64, 64))  # fine detail the ground truth lacks
    teacher = (hr * 0.9 + texture).clamp(0, 1)  # darker by 10 %, plus texture
    target = pd.colour_anchored(teacher, hr, sigma=4.0)
    # The teacher's darkening is gone: the mean colour is the ground truth's, not the teacher's.
    assert (target.mean((2, 3)) - hr.mean((2, 3))).abs().max() < 2e-3
    assert (teacher.mean((2, 3)) - hr.mean((2, 3))).abs().max() > 0.03
    # The detail is the teacher's: the high band of the target is the high band of the teacher.
    high = target - pd.gaussian_blur(target, 4.0)
    teacher_high = teacher - pd.gaussian_blur(teacher, 4.0)
    assert torch.corrcoef(torch.stack([high.flatten(), teacher_high.flatten()]))[0, 1] > 0.95


def test_deepen_computes_exactly_what_the_start_model_does():
    torch.manual_seed(2)
    start = CompactSRNet(num_feat=8, num_conv=2)
    for p in start.parameters():
        p.data.normal_(0, 0.2)
    deep = pd.deepen(start, 5)
    assert deep.config.num_conv == 5 and len(list(deep.body)) == 2 * (5 + 1)
    x = torch.rand(1, 3, 9, 7)
    torch.testing.assert_close(deep(x), start(x), rtol=0, atol=1e-6)
    with pytest.raises(ValueError):
        pd.deepen(start, 1)


def test_every_sample_comes_from_its_own_seed(hr_folder):
    from sinsr_gui.training.common import list_images, load_images

    cfg = pd.DistillConfig(data=[str(hr_folder)], out="", teacher="", lr_patch=16)
    pairs = pd.TrainingPairs(load_images(list_images(cfg.data), 64), cfg)
    lr5, hr5 = pairs[5]
    assert lr5.shape == (3, 16, 16) and hr5.shape == (3, 64, 64)
    pairs[3]  # drawing another sample first changes nothing
    torch.testing.assert_close(pairs[5][0], lr5, rtol=0, atol=0)
    assert not torch.equal(pairs[6][1], hr5)


def test_teacher_features_and_output_contract(tiny_teacher):
    teacher = Teacher.load(tiny_teacher)
    out = teacher(torch.rand(2, 3, 8, 6))
    assert out.shape == (2, 3, 32, 24) and out.min() >= 0 and out.max() <= 1
    feats = teacher.features(torch.rand(1, 3, 16, 16))
    assert [f.shape for f in feats] == [(1, 8, 16, 16)]
    assert not any(p.requires_grad for p in teacher.parameters())


def test_the_default_teacher_is_the_built_in_most_detail_model():
    """Training needs no download: the teacher is the app's Real-ESRGAN x4plus file, whole, in float32."""
    teacher = Teacher.load()
    assert DEFAULT_TEACHER.name == "realesrgan_x4plus.safetensors" and DEFAULT_TEACHER.is_file()
    app = load_builtin_model(name=DETAIL)
    state, ours = app.state_dict(), teacher.network.state_dict()
    assert state.keys() == ours.keys() and all(torch.equal(state[k], ours[k]) for k in state)
    assert all(v.dtype == torch.float32 for v in ours.values())
    torch.manual_seed(1)
    lr = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        expected = app(lr).clamp(0, 1)
        f0 = app.conv_first(lr)
        first_block = app.body[0](f0) - f0
    torch.testing.assert_close(teacher(lr), expected, rtol=0, atol=0)
    torch.testing.assert_close(teacher.features(lr)[0], first_block, rtol=0, atol=0)


def test_a_teacher_file_of_another_network_is_refused_in_words(tmp_path):
    path = tmp_path / "compact.safetensors"
    save_file({k: v.contiguous() for k, v in CompactSRNet(num_feat=4, num_conv=1).state_dict().items()}, str(path))
    with pytest.raises(ValueError, match="not a Real-ESRGAN x4 \\(RRDB\\) network"):
        Teacher.load(path)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_resume_continues_bit_for_bit_and_export_writes_a_loadable_card(tmp_path, tiny_teacher, hr_folder):
    straight = _cfg(tmp_path / "a", tiny_teacher, hr_folder)
    pd.train(straight, device_name="cpu", threads=1, quiet=True)

    halves = _cfg(tmp_path / "b", tiny_teacher, hr_folder)
    pd.train(replace(halves, steps=2), device_name="cpu", threads=1, quiet=True)
    pd.train(halves, resume=True, device_name="cpu", threads=1, quiet=True)

    for name in ("plain", "gan"):
        a = load_file(str(Path(straight.out) / name / pd.WEIGHTS_NAME))
        b = load_file(str(Path(halves.out) / name / pd.WEIGHTS_NAME))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}/{key} differs after resume"
    # Resuming a finished run rewrites nothing.
    before = {f: f.stat().st_mtime_ns for f in Path(halves.out).rglob("*") if f.is_file()}
    pd.train(halves, resume=True, device_name="cpu", threads=1, quiet=True)
    assert {f: f.stat().st_mtime_ns for f in Path(halves.out).rglob("*") if f.is_file()} == before
    log = [json.loads(line) for line in (Path(halves.out) / pd.LOG_NAME).read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3, 4]
    assert {"gan/adversarial", "gan/perceptual", "gan/disc", "plain/block_gradient"} <= log[-1].keys()

    # A second phase from a variant's weights records the first phase in its card.
    phase2 = _cfg(tmp_path / "c", tiny_teacher, hr_folder, steps=1,
                  init=str(Path(halves.out) / "gan" / pd.WEIGHTS_NAME), num_conv=3)
    pd.train(phase2, device_name="cpu", threads=1, quiet=True)
    models = tmp_path / "models"
    card = json.loads(pd.export_photo_distilled(Path(phase2.out) / "plain", models).read_text())
    assert card["name"] == "photo_x4" and "Real-ESRGAN x4plus" in card["training"]["teacher"]["name"]
    assert "BSD-3-Clause" in card["training"]["teacher"]["licence"]
    phases = card["training"]["phases"]
    assert [p["steps"] for p in phases] == [4, 1] and phases[0]["variant"] == "gan"
    assert "--variant gan:" in phases[0]["command"] and "--steps 4" in phases[0]["command"]
    weights = models / "photo_x4.safetensors"
    assert card["file"]["bytes"] == weights.stat().st_size
    model = CompactSRNet(**card["architecture"]["config"])
    model.load_state_dict(load_file(str(weights)))
    assert model(torch.rand(1, 3, 5, 5)).shape == (1, 3, 20, 20)


def test_training_command_repeats_the_configuration(tmp_path, tiny_teacher, hr_folder):
    cfg = _cfg(tmp_path, tiny_teacher, hr_folder, steps=7, lr=3e-4)
    argv = pd.training_command(cfg, "gan").split()[3:]  # drop "python -m MODULE"
    args = pd._parser().parse_args(argv)
    assert args.steps == 7 and args.lr == pytest.approx(3e-4) and args.batch == 2 and args.lr_patch == 16
    assert pd._parse_variants(args.variant) == {"gan": cfg.variants["gan"]}
