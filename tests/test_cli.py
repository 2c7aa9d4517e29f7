"""sinsr-upscale end to end on real files, with the reference case_a checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sinsr_gui import cli
from sinsr_gui.engine import SinSRPipeline
from tests.conftest import CASE_A

CKPT = ["--unet", str(CASE_A / "unet_ckpt.pth"), "--autoencoder", str(CASE_A / "autoencoder_ckpt.pth"),
        "--config", str(CASE_A / "config.json"), "--dtype", "fp32", "--no-progress"]


def make_png(path, w, h, seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w, 1), yy * 255 / max(h, 1), (xx + yy) * 127 / max(w + h, 1)], -1)
    arr = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).convert(mode).save(path)
    return path


def test_upscale_matches_the_pipeline_api(tmp_path, case_a_config):
    src = make_png(tmp_path / "in" / "photo.png", 40, 36)
    assert cli.main([str(src), "-o", str(tmp_path / "out"), "--seed", "5", *CKPT]) == 0
    out = tmp_path / "out" / "photo_x4.png"
    with Image.open(out) as im:
        assert im.size == (160, 144)
        got = np.asarray(im.convert("RGB"))
    pipe = SinSRPipeline.from_checkpoints(case_a_config, unet=CASE_A / "unet_ckpt.pth",
                                          autoencoder=CASE_A / "autoencoder_ckpt.pth")
    lr = torch.from_numpy(np.asarray(Image.open(src).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    ref = pipe.upscale(lr, generator=torch.Generator().manual_seed(5))[0].permute(1, 2, 0).numpy()
    ref8 = np.round(ref * 255).astype(np.uint8)
    assert np.mean(np.abs(got.astype(int) - ref8.astype(int)) <= 1) > 0.999


def test_folders_are_mirrored_and_a_bad_file_does_not_stop_the_batch(tmp_path, capsys):
    root = tmp_path / "album"
    make_png(root / "a.png", 20, 12)
    make_png(root / "trip" / "b.png", 9, 17, seed=1)
    (root / "trip" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code = cli.main([str(root), "-o", str(tmp_path / "out"), *CKPT])
    assert code == 1  # one failure -> non-zero
    assert (tmp_path / "out" / "a_x4.png").exists()
    with Image.open(tmp_path / "out" / "trip" / "b_x4.png") as im:
        assert im.size == (36, 68)
    assert not (tmp_path / "out" / "trip" / "broken_x4.png").exists()
    err = capsys.readouterr().err
    assert "Done: 2, skipped: 0, failed: 1." in err and "broken.jpg" in err


@pytest.mark.parametrize("scale,size", [(2, (26, 14)), (3, (39, 21)), (4, (52, 28))])
def test_output_size_is_exactly_round_scale_times_input(tmp_path, scale, size):
    src = make_png(tmp_path / "odd.png", 13, 7)
    assert cli.main([str(src), "-o", str(tmp_path), "--scale", str(scale), *CKPT]) == 0
    with Image.open(tmp_path / f"odd_x{scale}.png") as im:
        assert im.size == size


def test_skip_existing_and_never_overwrite_inputs(tmp_path, capsys):
    src = make_png(tmp_path / "p.png", 16, 16)
    before = src.read_bytes()
    # Output named exactly like the input, in the same folder: a new name is chosen, the input is untouched.
    assert cli.main([str(src), "--name", "{stem}", *CKPT]) == 0
    assert src.read_bytes() == before
    assert (tmp_path / "p (1).png").exists()
    # Even --overwrite never writes over an input.
    assert cli.main([str(src), "--name", "{stem}", "--overwrite", *CKPT]) == 1
    assert src.read_bytes() == before
    assert "input" in capsys.readouterr().err
    assert cli.main([str(src), "--skip-existing", *CKPT]) == 0
    assert cli.main([str(src), "--skip-existing", *CKPT]) == 0
    assert "skipped: 1" in capsys.readouterr().err


def test_missing_sinsr_weights_say_how_to_get_them(tmp_path, capsys):
    src = make_png(tmp_path / "p.png", 8, 8)
    assert cli.main([str(src), "--model", "sinsr", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "sinsr-upscale weights download sinsr_v1" in err and "weights import" in err


def test_ctrl_c_stops_cleanly_without_partial_outputs(tmp_path, monkeypatch, capsys):
    make_png(tmp_path / "in" / "a.png", 16, 16)
    make_png(tmp_path / "in" / "b.png", 16, 16, seed=2)
    import sinsr_gui.engine.photo as photo

    real = photo.process_file
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            yield photo.Progress(0, 4)
            raise KeyboardInterrupt
        return (yield from real(*args, **kwargs))

    monkeypatch.setattr(photo, "process_file", interrupted)
    code = cli.main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), *CKPT])
    assert code == 130
    outs = sorted(p.name for p in (tmp_path / "out").rglob("*"))
    assert outs == ["a_x4.png"]  # the finished image is kept, nothing partial (no temp files)
    assert "Stopped" in capsys.readouterr().err


def test_weights_subcommand_is_dispatched(capsys):
    assert cli.main(["weights", "path"]) == 0
    assert "weights" in capsys.readouterr().out


def test_unknown_format_is_a_usage_error(tmp_path, capsys):
    src = make_png(tmp_path / "p.png", 8, 8)
    assert cli.main([str(src), "--format", "gif", *CKPT]) == 2
    assert "gif" in capsys.readouterr().err.lower()


def test_without_sinsr_weights_the_builtin_model_is_used_and_said(tmp_path, capsys):
    src = make_png(tmp_path / "p.png", 20, 12)
    assert cli.main([str(src), "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "SinSR is not installed: using Photo (built-in)" in err and "Model: Photo (built-in)" in err
    assert "sinsr-upscale weights download sinsr_v1" in err  # how to get the better model
    with Image.open(tmp_path / "out" / "p_x4.png") as im:
        assert im.size == (80, 48)
        assert len(np.unique(np.asarray(im).reshape(-1, 3), axis=0)) > 50  # a real picture, not a flat fill
    # ... and the crisper built-in model, with what it costs on the processor (the reference CPU's figures:
    # 99.5 s and 7.8 s per input megapixel), as the app's first-run line does.
    assert ("For a crisper result use --model detail, Most detail (built-in): about 2 min per megapixel of input "
            "on the processor, against about 8 s with Photo (first estimates).") in err
    assert cli.main([str(src), "--model", "photo", "-o", str(tmp_path / "chosen"), "--no-progress"]) == 0
    assert "--model detail" not in capsys.readouterr().err  # Photo chosen on purpose: nothing to suggest


def test_installed_sinsr_weights_are_used_without_flags(tmp_path, capsys, home):
    """Weights imported into the store (small reference files standing in for the official ones) are what a
    plain `sinsr-upscale IN -o OUT` runs, with no --unet/--autoencoder."""
    from sinsr_gui.weights.importer import import_file
    from sinsr_gui.weights.store import WeightStore
    from tests.http_server import make_registry

    store = WeightStore(registry=make_registry("http://127.0.0.1:9"))
    import_file(CASE_A / "unet_ckpt.pth", store, name="sinsr_v1")
    import_file(CASE_A / "autoencoder_ckpt.pth", store, name="vq_f4")
    src = make_png(tmp_path / "p.png", 24, 16)
    code = cli.main([str(src), "-o", str(tmp_path / "out"), "--config", str(CASE_A / "config.json"),
                     "--dtype", "fp32", "--no-progress"])
    assert code == 0
    err = capsys.readouterr().err
    assert "Model: SinSR v1" in err and "built-in" not in err
    with Image.open(tmp_path / "out" / "p_x4.png") as im:
        assert im.size == (96, 64)


def test_the_resshift_teacher_runs_from_installed_weights_with_a_sampler_choice(tmp_path, capsys, home):
    """The teacher's weights go through the registry like SinSR's (small reference files stand in for them);
    `--model resshift` runs its 15 steps, warns that this is long on a CPU, and the two samplers differ."""
    from sinsr_gui.weights.importer import import_file
    from sinsr_gui.weights.store import WeightStore
    from tests.http_server import make_registry

    store = WeightStore(registry=make_registry("http://127.0.0.1:9"))
    import_file(CASE_A / "unet_ckpt.pth", store, name="resshift_x4_s15")
    import_file(CASE_A / "autoencoder_ckpt.pth", store, name="vq_f4")
    src = make_png(tmp_path / "p.png", 24, 16)
    results = {}
    for sampler in ("stochastic", "deterministic"):
        out = tmp_path / sampler
        code = cli.main([str(src), "-o", str(out), "--model", "resshift", "--sampler", sampler, "--config",
                         str(CASE_A / "config.json"), "--dtype", "fp32", "--no-progress"])
        assert code == 0
        err = capsys.readouterr().err
        assert "Model: ResShift (15 steps)" in err and "15 denoiser passes per tile" in err
        assert "per megapixel of input (a first estimate" in err and "--model photo takes about 8 s" in err
        with Image.open(out / "p_x4.png") as im:
            assert im.size == (96, 64)
            results[sampler] = np.asarray(im)
    assert not np.array_equal(results["stochastic"], results["deterministic"])


def test_colour_fix_and_automatic_format_options(tmp_path, capsys):
    """--colour-fix reaches the run; the automatic format saves PNG for a PNG photo (JPEG only for HEIC)."""
    src = make_png(tmp_path / "p.png", 20, 12)
    out = tmp_path / "out"
    assert cli.main([str(src), "-o", str(out), "--model", "faithful", "--colour-fix", "wavelet", "--no-progress"]) == 0
    plain = tmp_path / "plain"
    assert cli.main([str(src), "-o", str(plain), "--model", "faithful", "--no-progress"]) == 0
    fixed, unfixed = (np.asarray(Image.open(d / "p_x4.png")) for d in (out, plain))
    assert fixed.shape == unfixed.shape == (48, 80, 3) and not np.array_equal(fixed, unfixed)
    with pytest.raises(SystemExit):
        cli.main([str(src), "--colour-fix", "warm"])


def test_only_a_model_that_is_slow_on_this_processor_gets_a_note_before_the_run():
    """SinSR on a CPU: a note with its first estimate per megapixel and Photo's; Photo, or SinSR on a GPU: none."""
    from types import SimpleNamespace

    import torch

    from sinsr_gui.cli.upscale import slow_model_note
    from sinsr_gui.engine.models.builtin import PHOTO
    from sinsr_gui.engine.pipeline import SINSR_DESCRIPTOR

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    note = slow_model_note(SimpleNamespace(descriptor=SINSR_DESCRIPTOR, device=cpu))
    assert note == ("Note: SinSR v1 runs on the processor: about 29 min per megapixel of input (a first estimate, "
                    "from a 2-core reference processor); --model photo takes about 8 s.")
    assert slow_model_note(SimpleNamespace(descriptor=PHOTO, device=cpu)) == ""
    assert slow_model_note(SimpleNamespace(descriptor=SINSR_DESCRIPTOR, device=gpu)) == ""
