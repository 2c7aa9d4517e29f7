"""Reading checkpoint files safely and loading them strictly into modules.

Only two readers are ever used: ``safetensors`` and ``torch.load(weights_only=True)``. The latter refuses
any pickle that names a callable outside torch's tensor allow-list, so a malicious file cannot run code.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from sinsr_gui.errors import Remedy, UserError

# Prefixes added by wrappers around a model: DistributedDataParallel and torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Dicts that training code wraps around a state dict, unwrapped in this order (the first present wins): the
# common ``state_dict``, then the ones spandrel also unwraps. BasicSR/Real-ESRGAN save ``params_ema`` (the EMA
# weights, which their own inference uses) and ``params``.
WRAPPER_KEYS = ("state_dict", "params_ema", "params-ema", "params", "model_state_dict", "model", "net")
SAFETENSORS_SUFFIX = ".safetensors"
_MAX_KEYS_IN_MESSAGE = 5


class CheckpointError(UserError):
    """A checkpoint file cannot be used. The message names the file and says what is wrong."""


def _is_safetensors(path: Path) -> bool:
    if path.suffix.lower() == SAFETENSORS_SUFFIX:
        return True
    # A safetensors file starts with an 8-byte little-endian header length followed by '{'.
    try:
        with path.open("rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is not a valid safetensors file ({exc}).") from exc


def _first_byte(path: Path) -> bytes:
    """Every pickle torch writes (the zip format's data.pkl, or the legacy format) starts with PROTO, 0x80."""
    with path.open("rb") as fh:
        return fh.read(1)


def _read_torch(path: Path) -> object:
    is_zip = zipfile.is_zipfile(path)
    try:
        # mmap avoids a second copy of a 500 MB file in memory; it needs the zip format.
        return torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as exc:
        if not is_zip and _first_byte(path) != b"\x80":  # not a pickle at all: an image, a text file...
            raise CheckpointError(
                f"{path.name} is not a readable PyTorch checkpoint (it may be truncated, corrupt or another kind "
                "of file)."
            ) from exc
        raise CheckpointError(
            f"{path.name} was refused: it contains Python code or objects that are not plain tensors, "
            "so it was not loaded for your safety. Use the official .pth file or a .safetensors file."
        ) from exc
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError, AttributeError, KeyError) as exc:
        raise CheckpointError(
            f"{path.name} is not a readable PyTorch checkpoint (it may be truncated, corrupt or another kind "
            f"of file). Download or import it again. Details: {exc}"
        ) from exc


def strip_wrapper_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove ``module.`` and ``_orig_mod.`` prefixes (in any nesting) from every key."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key = key[len(prefix):]
                    changed = True
        out[key] = value
    return out


def unwrap_state_dict(raw: object) -> object:
    """The state dict inside ``raw``: the first of :data:`WRAPPER_KEYS` that holds a dict, or the only value of a
    one-entry dict that is itself a dict; ``raw`` unchanged otherwise."""
    if not isinstance(raw, Mapping):
        return raw
    for key in WRAPPER_KEYS:
        if isinstance(raw.get(key), Mapping):
            return raw[key]
    if len(raw) == 1:
        only = next(iter(raw.values()))
        if isinstance(only, Mapping):
            return only
    return raw


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat ``{key: tensor}`` dict on the CPU, without running any code.

    Accepts a plain state dict, a wrapper such as ``{'state_dict': ...}`` or Real-ESRGAN's ``{'params_ema': ...}``
    (:data:`WRAPPER_KEYS`), ``module.``/``_orig_mod.`` prefixes, and ``.safetensors`` files. Raises
    :class:`CheckpointError` with a readable message otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Weight file not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes).", Remedy("choose_other_file"))
    raw = _read_safetensors(path) if _is_safetensors(path) else _read_torch(path)
    raw = unwrap_state_dict(raw)
    if not isinstance(raw, Mapping) or not raw:
        raise CheckpointError(f"{path.name} does not contain model weights (no tensors found).")
    non_tensors = [k for k, v in raw.items() if not isinstance(v, torch.Tensor)]
    if non_tensors:
        raise CheckpointError(
            f"{path.name} does not look like a model checkpoint: entries such as {non_tensors[:3]} are not tensors."
        )
    return strip_wrapper_prefixes(raw)


def _fmt_keys(keys: Iterable[str]) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:_MAX_KEYS_IN_MESSAGE])
    more = len(keys) - _MAX_KEYS_IN_MESSAGE
    return shown + (f" (and {more} more)" if more > 0 else "")


def state_dict_mismatch(
    expected: Mapping[str, tuple[int, ...]], actual: Mapping[str, tuple[int, ...]]
) -> tuple[list[str], list[str], list[str]]:
    """Compare two ``{key: shape}`` maps. Returns (missing, unexpected, wrong-shape descriptions)."""
    missing = [k for k in expected if k not in actual]
    unexpected = [k for k in actual if k not in expected]
    wrong = [
        f"{k} {tuple(actual[k])} != {tuple(expected[k])}"
        for k in expected
        if k in actual and tuple(actual[k]) != tuple(expected[k])
    ]
    return missing, unexpected, wrong


def mismatch_details(missing: list[str], unexpected: list[str], wrong: list[str]) -> list[str]:
    """One phrase per kind of problem, each naming the first few offending keys."""
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys: {_fmt_keys(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys: {_fmt_keys(unexpected)}")
    if wrong:
        parts.append(f"{len(wrong)} keys with the wrong shape: {_fmt_keys(wrong)}")
    return parts


def describe_mismatch(source: str, missing: list[str], unexpected: list[str], wrong: list[str]) -> str:
    details = "; ".join(mismatch_details(missing, unexpected, wrong))
    return f"{source} does not match the model it was loaded into: {details}."


def shapes_of(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def load_strict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``module`` strictly. Any missing/unexpected key or wrong shape raises one
    :class:`CheckpointError` naming ``source`` and the first few offending keys."""
    missing, unexpected, wrong = state_dict_mismatch(shapes_of(module.state_dict()), shapes_of(state))
    if missing or unexpected or wrong:
        raise CheckpointError(describe_mismatch(source, missing, unexpected, wrong))
    module.load_state_dict(state, strict=True)


def load_checkpoint_into(module: torch.nn.Module, path: str | os.PathLike[str]) -> None:
    """Read ``path`` safely and load it strictly into ``module``."""
    load_strict(module, read_state_dict(path), source=Path(path).name)


def savable_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous tensors that share no storage: safetensors refuses aliased tensors (e.g. tied weights)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, tensor in state.items():
        tensor = tensor.detach().contiguous()
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        if ptr and (ptr in seen or storage.nbytes() != tensor.numel() * tensor.element_size()):
            tensor = tensor.clone()
            ptr = tensor.untyped_storage().data_ptr()
        seen.add(ptr)
        out[key] = tensor
    return out
