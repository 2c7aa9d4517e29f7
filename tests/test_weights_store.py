"""The weights registry, store, importer and consent book, on real files (no network)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from sinsr_gui import atomic
from sinsr_gui.cli.messages import describe_error
from sinsr_gui.errors import Remedy
from sinsr_gui.weights import store as store_module
from sinsr_gui.weights.checkpoint import CheckpointError, read_state_dict, shapes_of
from sinsr_gui.weights.consent import ConsentBook, ConsentRequired, ensure_consent
from sinsr_gui.weights.importer import identify, identify_shapes, import_file
from sinsr_gui.weights.manifest import UNET_FULL
from sinsr_gui.weights.registry import DEFAULT_REGISTRY, MIRROR_ENV, Registry, candidate_urls
from sinsr_gui.weights.store import (
    VerificationError,
    WeightsCorruptError,
    WeightsMissingError,
    WeightStore,
    reset_session_checks,
)
from tests.http_server import (
    AUTOENCODER_FIXTURE,
    UNET_FIXTURE,
    make_registry,
    write_evil_checkpoint,
)


@pytest.fixture
def registry() -> Registry:
    return make_registry("http://127.0.0.1:9")  # never contacted here


@pytest.fixture
def store(home: Path, registry: Registry) -> WeightStore:
    return WeightStore(registry=registry)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _user_copy(tmp_path: Path, fixture: Path, name: str) -> Path:
    """A copy of a fixture in a "user" folder, so tests never risk the fixtures themselves."""
    dest = tmp_path / "user" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fixture, dest)
    return dest


def _weight_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "installed.json") if folder.exists() else []


# ------------------------------------------------------------------------------------------------ registry
def test_default_registry_entries_and_helpful_unknown_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_REGISTRY.names() == ["sinsr_v1", "vq_f4", "resshift_x4_s15"]
    sinsr = DEFAULT_REGISTRY.get("sinsr_v1")
    assert sinsr.role == "denoiser" and sinsr.manifest == UNET_FULL and sinsr.sha256 is None
    assert DEFAULT_REGISTRY.get("resshift_x4_s15").manifest == UNET_FULL
    assert len(sinsr.shapes()) > 500  # the bundled full-size manifest
    with pytest.raises(KeyError, match="Known weights: sinsr_v1, vq_f4, resshift_x4_s15"):
        DEFAULT_REGISTRY.get("sinsr_v2")

    monkeypatch.setenv(MIRROR_ENV, "https://mirror.example/weights/")
    assert candidate_urls(sinsr) == ["https://mirror.example/weights/SinSR_v1.pth", *sinsr.urls]


def test_default_root_is_the_data_folder(home: Path) -> None:
    assert WeightStore().root == home / "weights"
    assert WeightStore(home / "elsewhere").root == home / "elsewhere"


# ------------------------------------------------------------------------------------------------ missing
def test_resolve_missing_says_how_to_get_it(store: WeightStore) -> None:
    with pytest.raises(WeightsMissingError) as info:
        store.resolve("sinsr_v1")
    assert info.value.remedy == Remedy("get_weights", "sinsr_v1")
    assert "sinsr-upscale" not in str(info.value)  # the message fits every front-end; each phrases the remedy
    assert "sinsr-upscale weights download sinsr_v1 --accept-license" in describe_error(info.value)
    assert {st.state for st in store.status()} == {"missing"}


# ------------------------------------------------------------------------------------------------ identify
def test_identify_by_layout_and_tie_breaks(tmp_path: Path, registry: Registry) -> None:
    assert identify(AUTOENCODER_FIXTURE, registry=registry).name == "vq_f4"
    # sinsr_v1 and resshift_x4_s15 share a layout: registry order, then the file name, then the caller decide.
    assert identify(UNET_FIXTURE, registry=registry).name == "sinsr_v1"
    renamed = _user_copy(tmp_path, UNET_FIXTURE, "resshift_x4_s15_v1.pth")
    assert identify(renamed, registry=registry).name == "resshift_x4_s15"
    assert identify(UNET_FIXTURE, registry=registry, expected="resshift_x4_s15").name == "resshift_x4_s15"
    guess = identify_shapes(shapes_of(read_state_dict(UNET_FIXTURE)), registry=registry, filename="unet.pth")
    assert (
        guess is not None and "taken as sinsr_v1" in guess.reason and "--as resshift_x4_s15" in guess.reason
    )

    other = tmp_path / "other.safetensors"
    save_file({"conv.weight": torch.zeros(3, 3)}, str(other))
    assert identify(other, registry=registry) is None


# ------------------------------------------------------------------------------------------------ import
def test_import_converts_to_safetensors_with_identical_tensors(tmp_path: Path, store: WeightStore) -> None:
    src = _user_copy(tmp_path, UNET_FIXTURE, "unet_ckpt.pth")
    before = _sha(src)

    result = import_file(src, store)
    assert result.name == "sinsr_v1" and result.path == store.root / "sinsr_v1.safetensors"
    original, stored = read_state_dict(src), load_file(str(result.path))
    assert stored.keys() == original.keys()
    for key, tensor in original.items():
        assert stored[key].dtype == tensor.dtype and torch.equal(stored[key], tensor), key
    assert _sha(src) == before and src.is_file()  # the source is only read
    assert store.status_of("sinsr_v1").state == "installed"
    assert store.record_info("sinsr_v1")["sha256"] == _sha(result.path)
    assert store.resolve("sinsr_v1") == result.path


def test_import_keep_format_copies_bytes(tmp_path: Path, store: WeightStore) -> None:
    src = _user_copy(tmp_path, AUTOENCODER_FIXTURE, "ae.pth")
    result = import_file(src, store, name="vq_f4", convert_to_safetensors=False)
    assert result.path == store.root / "autoencoder_vq_f4.pth" and _sha(result.path) == _sha(src)


def test_import_under_the_wrong_name_names_the_lookalike(tmp_path: Path, store: WeightStore) -> None:
    src = _user_copy(tmp_path, AUTOENCODER_FIXTURE, "SinSR_v1.pth")
    with pytest.raises(
        VerificationError, match="looks like the VQ-f4 autoencoder, not the SinSR v1 denoiser"
    ):
        import_file(src, store, name="sinsr_v1")
    assert _weight_files(store.root) == []


def test_import_of_a_malicious_pickle_is_refused(
    tmp_path: Path, store: WeightStore, registry: Registry
) -> None:
    marker = tmp_path / "MARKER"
    evil = tmp_path / "user" / "SinSR_v1.pth"
    evil.parent.mkdir()
    write_evil_checkpoint(evil, marker)

    with pytest.raises(VerificationError, match="refused"):
        import_file(evil, store)
    with pytest.raises(CheckpointError, match="refused"):
        identify(evil, registry=registry)
    with pytest.raises(VerificationError, match="refused"):
        store.use_in_place("sinsr_v1", evil)
    assert not marker.exists()
    assert _weight_files(store.root) == [] and not store.is_recorded("sinsr_v1")


def test_use_in_place_does_not_copy_and_remove_only_forgets(tmp_path: Path, store: WeightStore) -> None:
    src = _user_copy(tmp_path, UNET_FIXTURE, "my_sinsr.pth")
    before = _sha(src)

    assert store.use_in_place("sinsr_v1", src) == src
    assert store.resolve("sinsr_v1") == src
    assert _weight_files(store.root) == []  # only the index was written
    assert store.remove("sinsr_v1") == []
    assert src.is_file() and _sha(src) == before
    assert store.status_of("sinsr_v1").state == "missing"


def test_remove_deletes_the_store_copy(tmp_path: Path, store: WeightStore) -> None:
    installed = import_file(_user_copy(tmp_path, AUTOENCODER_FIXTURE, "ae.pth"), store).path
    assert store.remove("vq_f4") == [installed]
    assert not installed.exists() and store.status_of("vq_f4").state == "missing"


def test_verify_adopts_a_file_copied_into_the_folder_by_hand(store: WeightStore) -> None:
    store.root.mkdir(parents=True)
    shutil.copyfile(AUTOENCODER_FIXTURE, store.root / "autoencoder_vq_f4.pth")
    status = store.status_of("vq_f4")
    assert status.state == "missing" and status.remedy == Remedy("verify_weights", "vq_f4")

    [result] = store.verify("vq_f4")
    assert result.state == "installed" and store.resolve("vq_f4") == store.root / "autoencoder_vq_f4.pth"


# ------------------------------------------------------------------------------------------------ corruption
def _flip_bytes(path: Path) -> None:
    """Change bytes in the middle of ``path`` without changing its size."""
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        chunk = fh.read(16)
        fh.seek(-len(chunk), os.SEEK_CUR)
        fh.write(bytes(b ^ 0xFF for b in chunk))


def test_file_modified_after_install_is_detected(tmp_path: Path, store: WeightStore) -> None:
    installed = import_file(_user_copy(tmp_path, UNET_FIXTURE, "unet.pth"), store).path
    st = installed.stat()
    _flip_bytes(installed)
    # Any write moves the mtime; set it explicitly so that a coarse-mtime filesystem cannot hide the write.
    os.utime(installed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

    assert store.status_of("sinsr_v1").state == "corrupt"
    with pytest.raises(WeightsCorruptError, match="damaged") as info:
        store.resolve("sinsr_v1")
    assert info.value.remedy == Remedy("get_weights", "sinsr_v1")
    assert [r.state for r in store.verify("sinsr_v1")] == ["corrupt"]


def test_silent_bit_rot_is_caught_by_verify_and_a_new_session(tmp_path: Path, store: WeightStore) -> None:
    installed = import_file(_user_copy(tmp_path, UNET_FIXTURE, "unet.pth"), store).path
    st = installed.stat()
    _flip_bytes(installed)
    os.utime(installed, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime: only a hash can tell

    assert [r.state for r in store.verify()] == ["corrupt", "missing", "missing"]
    reset_session_checks()  # as in a fresh process: the first resolve hashes in full
    with pytest.raises(WeightsCorruptError):
        store.resolve("sinsr_v1")


def test_size_change_is_caught_by_the_cheap_check(tmp_path: Path, store: WeightStore) -> None:
    installed = import_file(_user_copy(tmp_path, AUTOENCODER_FIXTURE, "ae.pth"), store).path
    with installed.open("ab") as fh:
        fh.write(b"x")
    assert store.status_of("vq_f4").state == "corrupt"
    with pytest.raises(WeightsCorruptError, match="changed size"):
        store.resolve("vq_f4", full_hash=False)


def test_resolve_hashes_once_per_session(
    tmp_path: Path, store: WeightStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = import_file(_user_copy(tmp_path, AUTOENCODER_FIXTURE, "ae.pth"), store).path
    reset_session_checks()
    hashed: list[Path] = []
    real = store_module.sha256_file
    monkeypatch.setattr(
        store_module, "sha256_file", lambda path, cancel=None: hashed.append(path) or real(path)
    )

    for _ in range(3):
        assert store.resolve("vq_f4") == installed
    assert hashed == [installed]  # the first resolve in this "process" only
    store.verify("vq_f4")
    assert len(hashed) == 2  # verify always hashes


# ------------------------------------------------------------------------------------------------ consent
def test_consent_is_required_asked_and_remembered_per_licence(home: Path, registry: Registry) -> None:
    sinsr, vq, resshift = (registry.get(n) for n in ("sinsr_v1", "vq_f4", "resshift_x4_s15"))
    with pytest.raises(ConsentRequired, match=sinsr.license_name) as info:
        ensure_consent(sinsr, accept=False, prompt=None)
    assert info.value.remedy == Remedy("accept_licence", "sinsr_v1")
    with pytest.raises(ConsentRequired):
        ensure_consent(sinsr, accept=False, prompt=lambda text: False)

    ensure_consent(sinsr, accept=True, prompt=None)
    assert (home / "config" / "licence_consent.json").is_file()
    ensure_consent(sinsr, accept=False, prompt=None, book=ConsentBook())  # remembered on disk

    shown: list[str] = []
    ensure_consent(vq, accept=False, prompt=lambda text: shown.append(text) or True)
    assert "S-Lab License 1.0" in shown[0] and vq.license_url in shown[0]
    ensure_consent(resshift, accept=False, prompt=None)  # same licence as vq_f4: already accepted


def test_revoking_rewrites_the_consent_book_atomically(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    sinsr, vq = registry.get("sinsr_v1"), registry.get("vq_f4")
    book = ConsentBook(tmp_path / "consent.json")
    book.accept(sinsr)
    book.accept(vq)
    before = book.path.read_text(encoding="utf-8")

    def refuse(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(atomic.os, "replace", refuse)  # the helper's rename: a direct write would not stop
        with pytest.raises(OSError):
            book.revoke(vq)
    assert book.path.read_text(encoding="utf-8") == before  # the old book is whole, both still accepted
    assert os.listdir(tmp_path) == ["consent.json"]  # and no temp file is left

    book.revoke(vq)
    assert set(json.loads(book.path.read_text(encoding="utf-8"))) == {sinsr.license_name}
    assert book.has_accepted(sinsr) and not book.has_accepted(vq)
