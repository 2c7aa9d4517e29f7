"""Downloads against a real HTTP server on 127.0.0.1 that serves, drops, ignores Range, 404s and stalls."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

from sinsr_gui.cli.messages import describe_error
from sinsr_gui.errors import Remedy
from sinsr_gui.weights.consent import ConsentBook, ConsentRequired, ensure_consent
from sinsr_gui.weights.download import DownloadCancelled, DownloadError, download
from sinsr_gui.weights.registry import MIRROR_ENV, Registry
from sinsr_gui.weights.store import VerificationError, WeightStore
from tests.http_server import (
    AUTOENCODER_FIXTURE,
    UNET_FIXTURE,
    FileServer,
    make_registry,
    with_urls,
    write_evil_checkpoint,
)

UNET = UNET_FIXTURE.read_bytes()
AUTOENCODER = AUTOENCODER_FIXTURE.read_bytes()
HALF = len(UNET) // 2


@pytest.fixture
def registry(server: FileServer) -> Registry:
    return make_registry(server.base_url)


@pytest.fixture
def store(home: Path, registry: Registry) -> WeightStore:
    return WeightStore(registry=registry)  # default root: $SINSR_GUI_HOME/weights


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content hash: proves nothing was added, removed or changed."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): _sha(p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_full_download_of_both_checkpoints(server: FileServer, store: WeightStore, home: Path) -> None:
    server.serve("/SinSR_v1.pth", UNET)
    server.serve("/autoencoder_vq_f4.pth", AUTOENCODER)
    calls: list[tuple[int, int | None, float, float | None]] = []

    unet_path = download("sinsr_v1", store, accept_license=True, progress=lambda *a: calls.append(a))
    vq_path = download("vq_f4", store, accept_license=True)

    assert unet_path == home / "weights" / "SinSR_v1.pth" and unet_path.read_bytes() == UNET
    assert vq_path.read_bytes() == AUTOENCODER
    states = {st.spec.name: st.state for st in store.status()}
    assert states == {"sinsr_v1": "installed", "vq_f4": "installed", "resshift_x4_s15": "missing"}
    assert store.record_info("sinsr_v1")["sha256"] == _sha(UNET)
    assert store.record_info("vq_f4")["sha256"] == _sha(AUTOENCODER)
    assert not list((home / "weights").glob("*.part*"))
    # The last progress report is the whole file, with a rate and a zero ETA.
    done, total, rate, eta = calls[-1]
    assert (done, total) == (len(UNET), len(UNET)) and rate > 0 and eta == 0
    assert store.resolve("sinsr_v1") == unet_path


def test_already_installed_is_not_downloaded_again(server: FileServer, store: WeightStore) -> None:
    server.serve("/autoencoder_vq_f4.pth", AUTOENCODER)
    first = download("vq_f4", store, accept_license=True)
    seen = len(server.requests)
    assert download("vq_f4", store) == first
    assert len(server.requests) == seen


def test_interrupted_download_resumes_with_range(server: FileServer, store: WeightStore) -> None:
    server.serve("/SinSR_v1.pth", UNET, drop_after=HALF, etag='"v1"')

    with pytest.raises(DownloadError, match="closed after"):
        download("sinsr_v1", store, accept_license=True)
    status = store.status_of("sinsr_v1")
    assert status.state == "partial" and status.size == HALF
    assert store.part_path("sinsr_v1").stat().st_size == HALF

    path = download("sinsr_v1", store)
    resumed = server.requests[-1]
    assert resumed.range == f"bytes={HALF}-"
    assert resumed.headers.get("If-Range") == '"v1"'  # a changed server file would restart, not be spliced
    assert path.read_bytes() == UNET
    assert store.status_of("sinsr_v1").state == "installed"


def test_server_ignoring_range_restarts_from_zero(server: FileServer, store: WeightStore) -> None:
    server.serve("/SinSR_v1.pth", UNET, drop_after=HALF, range_support=False)
    with pytest.raises(DownloadError):
        download("sinsr_v1", store, accept_license=True)

    path = download("sinsr_v1", store)
    assert server.requests[-1].range == f"bytes={HALF}-"  # asked to resume, got a 200 with the whole file
    assert path.read_bytes() == UNET  # appended instead of restarted, this would be 1.5x the size


def test_404_falls_back_to_the_next_url(server: FileServer, registry: Registry, home: Path) -> None:
    server.serve("/fallback/SinSR_v1.pth", UNET)
    good = server.url("/fallback/SinSR_v1.pth")
    store = WeightStore(registry=with_urls(registry, "sinsr_v1", server.url("/gone/SinSR_v1.pth"), good))

    path = download("sinsr_v1", store, accept_license=True)
    assert server.paths_requested() == ["/gone/SinSR_v1.pth", "/fallback/SinSR_v1.pth"]
    assert path.read_bytes() == UNET
    assert store.record_info("sinsr_v1")["source"] == good


def test_every_url_failing_reports_each_reason(server: FileServer, registry: Registry, home: Path) -> None:
    with socket.socket() as sock:  # a port with nobody listening: connection refused
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{closed_port}/SinSR_v1.pth"
    store = WeightStore(registry=with_urls(registry, "sinsr_v1", server.url("/gone/SinSR_v1.pth"), dead))

    with pytest.raises(DownloadError) as info:
        download("sinsr_v1", store, accept_license=True)
    message = str(info.value)
    assert "/gone/SinSR_v1.pth (HTTP 404" in message
    assert f"{dead} (cannot connect" in message
    assert info.value.remedy == Remedy("retry_download", "sinsr_v1")
    cli = describe_error(info.value)  # the terminal names the mirror variable and the import command
    assert MIRROR_ENV in cli and "weights import PATH --as sinsr_v1" in cli


def test_mirror_is_tried_first(
    server: FileServer, registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.serve("/mirror/SinSR_v1.pth", UNET)
    monkeypatch.setenv(MIRROR_ENV, server.url("/mirror/"))
    store = WeightStore(registry=with_urls(registry, "sinsr_v1", server.url("/official/SinSR_v1.pth")))

    download("sinsr_v1", store, accept_license=True)
    assert server.paths_requested() == ["/mirror/SinSR_v1.pth"]


def test_proxy_environment_is_honoured(
    server: FileServer, registry: Registry, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test server doubles as the proxy: it receives the absolute URL of a host that does not exist.
    server.serve("/SinSR_v1.pth", UNET)
    monkeypatch.setenv("http_proxy", server.base_url)
    store = WeightStore(registry=with_urls(registry, "sinsr_v1", "http://weights.invalid/SinSR_v1.pth"))

    assert download("sinsr_v1", store, accept_license=True).read_bytes() == UNET
    assert server.requests[0].target == "http://weights.invalid/SinSR_v1.pth"


def test_truncated_file_is_rejected_and_store_unchanged(server: FileServer, store: WeightStore) -> None:
    server.serve("/autoencoder_vq_f4.pth", AUTOENCODER)
    download("vq_f4", store, accept_license=True)
    server.serve("/SinSR_v1.pth", UNET[:HALF])  # a complete response, but of half a file
    before = _snapshot(store.root)

    with pytest.raises(VerificationError, match="truncated"):
        download("sinsr_v1", store, accept_license=True)
    assert _snapshot(store.root) == before
    assert store.status_of("sinsr_v1").state == "missing"
    assert store.status_of("vq_f4").state == "installed"


def test_wrong_file_is_rejected_naming_what_it_is(server: FileServer, store: WeightStore) -> None:
    server.serve("/SinSR_v1.pth", AUTOENCODER)

    with pytest.raises(
        VerificationError, match="looks like the VQ-f4 autoencoder, not the SinSR v1 denoiser"
    ):
        download("sinsr_v1", store, accept_license=True)
    assert not store.download_path("sinsr_v1").exists()
    assert not store.part_path("sinsr_v1").exists()


def test_malicious_pickle_is_refused_without_running(
    server: FileServer, store: WeightStore, tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    server.serve("/SinSR_v1.pth", write_evil_checkpoint(tmp_path / "evil.pth", marker))

    with pytest.raises(VerificationError, match="refused"):
        download("sinsr_v1", store, accept_license=True)
    assert not marker.exists()
    assert not store.part_path("sinsr_v1").exists()
    assert store.status_of("sinsr_v1").state == "missing"


def test_evil_fixture_really_runs_code_when_unpickled_unsafely(tmp_path: Path) -> None:
    # Proves the refusal test above is meaningful: this payload does execute under a plain torch.load.
    marker = tmp_path / "LIVE"
    write_evil_checkpoint(tmp_path / "evil.pth", marker)
    torch.load(tmp_path / "evil.pth", weights_only=False)
    assert marker.exists()


def test_no_consent_means_no_request(server: FileServer, store: WeightStore, home: Path) -> None:
    server.serve("/SinSR_v1.pth", UNET)

    with pytest.raises(ConsentRequired) as info:
        download("sinsr_v1", store)
    assert info.value.remedy.action == "accept_licence"
    with pytest.raises(ConsentRequired):
        download("sinsr_v1", store, prompt=lambda text: False)
    assert server.requests == []
    assert _snapshot(store.root) == {}

    asked: list[str] = []
    download("sinsr_v1", store, prompt=lambda text: asked.append(text) or True)
    assert "CC BY-NC-SA 4.0" in asked[0] and "creativecommons.org" in asked[0]
    # Remembered on disk in the config folder: a fresh book, with no accept and no prompt, does not raise.
    assert (home / "config" / "licence_consent.json").is_file()
    ensure_consent(store.registry.get("sinsr_v1"), accept=False, prompt=None, book=ConsentBook())


def test_stalled_server_times_out(server: FileServer, store: WeightStore) -> None:
    server.serve("/SinSR_v1.pth", UNET, stall=True)
    started = time.monotonic()

    with pytest.raises(DownloadError, match="timed out"):
        download("sinsr_v1", store, accept_license=True, timeout=1.0)
    assert time.monotonic() - started < 10


def test_cancel_keeps_the_part_for_a_later_resume(server: FileServer, store: WeightStore) -> None:
    server.serve("/SinSR_v1.pth", UNET)
    cancel = threading.Event()

    def on_progress(done: int, total: int | None, rate: float, eta: float | None) -> None:
        cancel.set()  # cancel as soon as the first chunk has arrived

    with pytest.raises(DownloadCancelled):
        download(
            "sinsr_v1", store, accept_license=True, progress=on_progress, cancel=cancel, chunk_size=64 * 1024
        )
    status = store.status_of("sinsr_v1")
    assert status.state == "partial" and 0 < status.size < len(UNET)

    assert download("sinsr_v1", store).read_bytes() == UNET
    assert server.requests[-1].range == f"bytes={status.size}-"
