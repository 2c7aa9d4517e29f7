"""Which model runs: the selection rule, the descriptors every model carries, and the two built-in models."""

from __future__ import annotations

import json

import pytest
import torch

from sinsr_gui import paths
from sinsr_gui.engine import models
from sinsr_gui.engine.models import ModelRequest, ModelUnavailable, load_model, model_choices, resolve_choice
from sinsr_gui.engine.options import MODEL_CHOICES
from sinsr_gui.weights import builtin
from tests.conftest import CASE_A


def _install_sinsr(home) -> None:
    from sinsr_gui.weights.importer import import_file
    from sinsr_gui.weights.store import WeightStore
    from tests.http_server import make_registry

    store = WeightStore(registry=make_registry("http://127.0.0.1:9"))
    import_file(CASE_A / "unet_ckpt.pth", store, name="sinsr_v1")
    import_file(CASE_A / "autoencoder_ckpt.pth", store, name="vq_f4")


def test_auto_is_photo_without_sinsr_and_says_so(home):
    kind, notice = resolve_choice(ModelRequest())
    assert kind == "photo"
    assert notice is not None and "Photo (built-in)" in notice.message
    assert notice.remedy.action == "get_weights" and notice.remedy.target == "sinsr_v1,vq_f4"


def test_auto_without_sinsr_is_most_detail_on_a_graphics_card(home, monkeypatch):
    """Real-ESRGAN x4plus takes seconds a photo on a GPU, so there "auto" does not settle for Photo."""
    seen = []
    monkeypatch.setattr(models, "resolve_device", lambda name: seen.append(name) or torch.device("cuda"))
    kind, notice = resolve_choice(ModelRequest(device="auto"))
    assert (kind, seen) == ("detail", ["auto"])
    assert notice is not None and "Most detail (built-in)" in notice.message
    assert resolve_choice(ModelRequest(device="cpu", model="photo")) == ("photo", None)  # an explicit choice stays


def test_auto_on_a_device_that_cannot_be_used_is_photo(home):
    kind, _ = resolve_choice(ModelRequest(device="cuda:7" if torch.cuda.device_count() < 8 else "nodevice"))
    assert kind == "photo"


def test_auto_is_sinsr_once_installed(home):
    _install_sinsr(home)
    assert resolve_choice(ModelRequest()) == ("sinsr", None)
    assert dict((d.kind, ok) for d, ok in model_choices(ModelRequest()))["sinsr"] is True


def test_explicit_choices_and_the_old_name():
    assert resolve_choice(ModelRequest(model="faithful")) == ("faithful", None)
    assert resolve_choice(ModelRequest(model="compact")) == ("faithful", None)  # earlier versions' name
    with pytest.raises(ModelUnavailable, match="Unknown model"):
        resolve_choice(ModelRequest(model="esrgan"))


def test_sinsr_missing_is_a_user_error_with_a_remedy(home):
    with pytest.raises(ModelUnavailable) as info:
        load_model(ModelRequest(model="sinsr"))
    assert info.value.remedy.action == "get_weights" and "sinsr-upscale" not in str(info.value)


def test_every_choice_has_a_descriptor_with_the_facts_the_app_needs():
    assert models.MODEL_CHOICES == MODEL_CHOICES
    for kind in MODEL_CHOICES[1:]:
        d = models.descriptor_for(kind)
        assert d.kind == kind and d.display_name and d.summary and d.licence
        assert d.scale == 4 and d.size_multiple >= 1 and d.passes >= 1
        assert d.tile_peak_bytes(128) > d.tile_peak_bytes(64) > 0
    assert not models.descriptor_for("photo").needs_noise and models.descriptor_for("sinsr").needs_noise
    assert models.descriptor_for("resshift").passes == 15


@pytest.mark.parametrize("kind", ["photo", "faithful", "detail"])
def test_built_in_models_load_and_run(kind):
    model, notice = load_model(ModelRequest(model=kind, device="cpu", dtype="fp32"))
    assert notice is None and model.descriptor.kind == kind and model.precision_label == "fp32"
    out = model.run_tiles(torch.rand(1, 3, 12, 10), None)
    assert out.shape == (1, 3, 48, 40) and out.min() >= 0 and out.max() <= 1


def test_the_two_built_in_cards_say_what_each_model_is_for():
    photo, faithful = (builtin.load_builtin_card(n) for n in (builtin.PHOTO, builtin.FAITHFUL))
    assert photo["display_name"] == "Photo (built-in)" and faithful["display_name"] == "Faithful (built-in)"
    for card, name in ((photo, builtin.PHOTO), (faithful, builtin.FAITHFUL)):
        path = paths.resource_path(f"models/{name}.safetensors")
        assert card["file"]["bytes"] == path.stat().st_size
        assert card["architecture"]["class"] == "sinsr_gui.nn.compact.CompactSRNet"  # the same small family
        assert "non-commercial" in json.dumps(card["licence"])
        assert card["training"]["datasets"]
    assert photo["training"]["degradations"]["real_world_prob"] > 0  # trained for real photos
    # Photo v3: distilled from Real-ESRGAN x4plus, at most general-x4v3's size (64 features, 32 convolutions)
    assert "Real-ESRGAN x4plus" in photo["training"]["teacher"]["name"]
    assert "BSD-3-Clause" in photo["training"]["teacher"]["licence"]
    assert photo["architecture"]["config"]["num_feat"] <= 64 and photo["architecture"]["config"]["num_conv"] <= 32
    assert [p["steps"] for p in photo["training"]["phases"]] == [771, 1240]


@pytest.mark.parametrize("kind", ["photo", "faithful"])
def test_built_in_tile_overlap_covers_the_network_reach(kind):
    model, _ = load_model(ModelRequest(model=kind, device="cpu", dtype="fp32"))
    card = builtin.load_builtin_card(builtin.PHOTO if kind == "photo" else builtin.FAITHFUL)
    reach = card["architecture"]["config"]["num_conv"] + 2  # CompactSRNet.receptive_radius
    assert model.descriptor.overlap >= reach
