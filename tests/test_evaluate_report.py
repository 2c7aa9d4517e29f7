"""What the evaluation writes: crop sheets in the order asked, the targets against the teacher, the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sinsr_gui.evaluate import __main__ as cli
from sinsr_gui.evaluate import report
from tests.evaluate_support import copy_card, texture


def test_realset_sheet_is_bicubic_then_each_method_in_order_at_100_percent(tmp_path: Path):
    lr = texture(40, 50, seed=1)
    colours = {"v3": (250, 0, 0), "v2": (0, 250, 0), "teacher": (0, 0, 250)}
    outputs = {m: np.full((160, 200, 3), c, np.uint8) for m, c in colours.items()}
    entry = {"image": "cat1.jpeg", "lr": lr, "outputs": outputs, "block": {}, "colour": {}, "pattern": {}}
    (row,) = report.realset_sheets([entry], ["v2", "v3", "teacher"], tmp_path, size=16, crops={"cat1": (4, 8)},
                                   labels={"v2": "Photo v2"})
    assert row["crop"] == {"top": 4, "left": 8, "size": 16} and row["file"] == "real_cat1.png"
    sheet = np.asarray(Image.open(tmp_path / row["file"]).convert("RGB"))
    tile, gap, label_h = 16 * 4, 6, 18
    assert sheet.shape == (label_h + tile, 4 * tile + 3 * gap, 3)  # 100 %: output pixels one to one
    columns = [sheet[label_h:, i * (tile + gap):i * (tile + gap) + tile] for i in range(4)]
    bicubic = np.asarray(Image.fromarray(lr).resize((200, 160), Image.Resampling.BICUBIC))
    assert np.array_equal(columns[0], bicubic[16:16 + tile, 32:32 + tile])
    for column, method in zip(columns[1:], ["v2", "v3", "teacher"]):
        assert (column == colours[method]).all()


def test_teacher_targets_follow_the_issue():
    def res(psnr, block, sharp, colour, pattern):
        return {"psnr": psnr, "block": block, "sharpness": sharp, "colour": colour, "pattern": pattern}

    q45 = {"mean": {"bicubic": res(25.0, 1.4, 0.4, 0, 0.3), "teacher": res(24.0, 1.05, 0.7, 5.0, 0.42),
                    "v3": res(24.8, 1.08, 0.64, 1.0, 0.40)}, "gt_block": 1.01, "gt_pattern": 0.3}
    q20 = {"mean": {"bicubic": res(23.0, 1.6, 0.35, 0, 0.3), "teacher": res(22.0, 1.1, 0.6, 5.0, 0.4),
                    "v3": res(22.5, 1.20, 0.5, 1.0, 0.4)}, "gt_block": 1.01, "gt_pattern": 0.3}
    t = report.check_teacher_targets({"Set14": {"jpeg45": q45, "jpeg20": q20}}, "v3", "teacher")["Set14"]
    assert t["sharpness_of_teacher"]["value"] == pytest.approx(0.64 / 0.7) and t["sharpness_of_teacher"]["met"]
    assert t["psnr_over_teacher_db"]["value"] == pytest.approx(0.8) and t["psnr_over_teacher_db"]["met"]
    assert t["psnr_over_bicubic_db"]["met"] and t["colour_levels"]["met"] and t["block_vs_gt"]["met"]
    assert t["pattern_of_gt"]["value"] == pytest.approx(0.40 / 0.3) and t["pattern_of_gt"]["met"]
    assert t["q20_block_vs_gt"]["value"] == pytest.approx(0.19 / 1.01) and not t["q20_block_vs_gt"]["met"]
    table = report.format_teacher_targets({"Set14": t}, "v3", "teacher")
    assert "18.8% **no**" in table and "+0.80 yes" in table


def _sets(tmp_path: Path) -> list[str]:
    args = []
    for name, n in (("set5", 1), ("set14", 2)):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(n):
            Image.fromarray(texture(64, 48, seed=10 + i)).save(folder / f"img{i}.png")
        args += [f"--{name}", str(folder)]
    return args


def test_one_run_has_every_row_and_the_real_photo_sheets(tmp_path: Path):
    from safetensors.torch import save_file

    from sinsr_gui.evaluate import running

    weights = tmp_path / "v3.safetensors"
    state = running.engine_model("photo").network.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    copy_card(weights)
    real = tmp_path / "real"
    real.mkdir()
    Image.fromarray(texture(40, 44, seed=20)).save(real / "cat1.png")
    Image.fromarray(texture(40, 44, seed=21)).save(real / "other.png")
    out = tmp_path / "docs"
    assert cli.main([*_sets(tmp_path), "--protocols", "jpeg45", "jpeg20", "--models", f"Photo v3={weights}",
                     "--methods", "bicubic", "photo", "Photo v3", "detail", "--realset", str(real),
                     "--out", str(out), "--no-speed"]) == 0
    md = (out / "quality.md").read_text(encoding="utf-8")
    for row in ("| jpeg45 | bicubic |", "| jpeg45 | Photo |", "| jpeg45 | Photo v3 |", "| jpeg20 | Most detail |"):
        assert row in md
    assert "| jpeg45 | Lanczos |" not in md and "| jpeg45 | Faithful |" not in md  # only the rows asked
    assert "Photo v3 against Most detail" in md and "q20" in md
    assert "**Most detail (built-in)** (`resources/models/realesrgan_x4plus.json`): 16,697,987 parameters, " \
           "trained by its authors" in md  # described from its card, as the other built-ins
    assert "![cat1.png](quality/real_cat1.png)" in md and "other.png" not in md  # only the chosen photos
    sheet = Image.open(out / "quality" / "real_cat1.png")
    assert sheet.width == 4 * 40 * 4 + 3 * 6  # bicubic | Photo | Photo v3 | Most detail, whole 40-px width
    data = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert list(data["methods"]) == ["bicubic", "photo", "Photo v3", "detail"]
    means = data["results"]["Set14"]["jpeg45"]["mean"]
    assert means["Photo v3"] == means["photo"]  # the same weights, run the same way


def test_the_command_line_refuses_bad_model_pairs_in_its_own_words(tmp_path: Path, capsys):
    sets = _sets(tmp_path)
    with pytest.raises(SystemExit):
        cli.main([*sets, "--models", "v3", "--reference", "none"])
    assert "--models takes NAME=WEIGHTS_FILE pairs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([*sets, "--models", f"v3={tmp_path / 'missing.safetensors'}"])
    assert "is not a file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        cli.main(["--set5", str(tmp_path / "empty"), "--set14", str(tmp_path / "set14"), "--reference", "none"])
    err = capsys.readouterr().err
    assert "--set5" in err and "holds no PNG, BMP or JPEG images" in err
