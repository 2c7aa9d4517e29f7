"""``sinsr-upscale weights ...`` through ``main(argv)``: exit codes and the one message a user sees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sinsr_gui.cli.weights import main
from sinsr_gui.weights.registry import Registry
from sinsr_gui.weights.store import WeightStore
from tests.http_server import (
    AUTOENCODER_FIXTURE,
    UNET_FIXTURE,
    FileServer,
    make_registry,
)


@pytest.fixture
def registry(server: FileServer) -> Registry:
    return make_registry(server.base_url)


@pytest.fixture
def store(home: Path, registry: Registry) -> WeightStore:
    return WeightStore(registry=registry)


def _copy(tmp_path: Path, fixture: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copyfile(fixture, dest)
    return dest


def test_list_shows_every_entry(registry: Registry, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"], registry=registry) == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()[:4]
    assert header.split() == ["NAME", "ROLE", "STATE", "SIZE", "LICENCE"]
    assert rows[0].split()[:3] == ["sinsr_v1", "denoiser", "missing"] and "CC BY-NC-SA 4.0" in rows[0]
    assert rows[1].split()[:3] == ["vq_f4", "autoencoder", "missing"] and "S-Lab License 1.0" in rows[1]
    assert rows[2].startswith("resshift_x4_s15")
    assert str(home / "weights") in out
    # The built-in models need no download; Real-ESRGAN x4plus is one of them, under its choice name.
    assert "photo (Photo), faithful (Faithful), detail (Most detail)" in out and "detail is Real-ESRGAN x4plus" in out


def test_path_prints_the_weights_folder(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["path"]) == 0
    assert capsys.readouterr().out.strip() == str(home / "weights")
    assert main(["--dir", str(home / "mine"), "path"]) == 0
    assert capsys.readouterr().out.strip() == str(home / "mine")


def test_download_without_consent_and_no_tty_fails_clearly(
    server: FileServer, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    server.serve("/SinSR_v1.pth", UNET_FIXTURE.read_bytes())
    assert main(["download", "sinsr_v1"], registry=registry, interactive=False) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--accept-license" in err and err.count("\n") == 1
    assert server.requests == []


def test_download_with_accept_license(
    server: FileServer, store: WeightStore, capsys: pytest.CaptureFixture[str]
) -> None:
    server.serve("/SinSR_v1.pth", UNET_FIXTURE.read_bytes())
    assert main(["download", "sinsr_v1", "--accept-license"], store=store, interactive=False) == 0
    out = capsys.readouterr().out
    assert "Installed the SinSR v1 denoiser" in out
    assert store.status_of("sinsr_v1").state == "installed"


def test_interactive_prompt_accepts_with_y(
    server: FileServer,
    store: WeightStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.serve("/autoencoder_vq_f4.pth", AUTOENCODER_FIXTURE.read_bytes())
    monkeypatch.setattr("builtins.input", lambda question: "y")
    assert main(["download", "vq_f4"], store=store, interactive=True) == 0
    assert "S-Lab License 1.0" in capsys.readouterr().err  # the licence was shown before asking
    assert store.status_of("vq_f4").state == "installed"


def test_download_failure_is_one_message(
    server: FileServer, store: WeightStore, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing served: every URL answers 404.
    assert main(["download", "sinsr_v1", "--accept-license"], store=store, interactive=False) == 1
    err = capsys.readouterr().err
    assert "error: Could not download the SinSR v1 denoiser" in err and "HTTP 404" in err
    assert "Traceback" not in err


def installed_sinsr_paths(store: WeightStore):
    from sinsr_gui.engine.models import ModelRequest
    from sinsr_gui.engine.models.sinsr import installed_files

    return installed_files(ModelRequest(weights_dir=store.root))


def test_import_verify_remove_and_installed_paths(
    tmp_path: Path, store: WeightStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(_copy(tmp_path, UNET_FIXTURE, "unet.pth"))], store=store) == 0
    assert "as sinsr_v1" in capsys.readouterr().out
    assert installed_sinsr_paths(store) is None  # the autoencoder is still missing

    ae = _copy(tmp_path, AUTOENCODER_FIXTURE, "ae.pth")
    assert main(["import", str(ae), "--as", "vq_f4", "--in-place"], store=store) == 0
    assert installed_sinsr_paths(store) == (store.root / "sinsr_v1.safetensors", ae)

    assert main(["verify"], store=store) == 0
    out = capsys.readouterr().out
    assert "sinsr_v1: installed" in out and "vq_f4: installed" in out

    assert main(["remove", "sinsr_v1"], store=store) == 0
    assert not (store.root / "sinsr_v1.safetensors").exists()
    assert installed_sinsr_paths(store) is None
    assert main(["verify", "sinsr_v1"], store=store) == 1  # asked about it by name: not installed


def test_verify_reports_damage_with_exit_code(
    tmp_path: Path, store: WeightStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(_copy(tmp_path, AUTOENCODER_FIXTURE, "ae.pth"))], store=store) == 0
    installed = store.root / "vq_f4.safetensors"
    data = bytearray(installed.read_bytes())
    data[-10:] = bytes(b ^ 0xFF for b in data[-10:])
    installed.write_bytes(bytes(data))

    assert main(["verify", "vq_f4"], store=store) == 1
    assert "vq_f4: corrupt" in capsys.readouterr().out


def test_errors_are_one_clear_line(
    tmp_path: Path, store: WeightStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["download", "sinsr_v2"], store=store) == 1
    assert "Known weights: sinsr_v1, vq_f4, resshift_x4_s15" in capsys.readouterr().err

    assert main(["import", str(tmp_path / "nope.pth")], store=store) == 1
    assert "does not exist" in capsys.readouterr().err

    assert (
        main(["import", str(_copy(tmp_path, AUTOENCODER_FIXTURE, "x.pth")), "--as", "sinsr_v1"], store=store)
        == 1
    )
    assert "looks like the VQ-f4 autoencoder" in capsys.readouterr().err

    assert main(["frobnicate"], store=store) == 2  # usage error, from argparse
