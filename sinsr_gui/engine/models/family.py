"""Model families behind one small protocol, so that choosing, describing, checking and loading a model is
never a switch on its kind.

A family is one kind of model file the app can run (SinSR's checkpoints, the built-in models, the ResShift
teacher, community models through spandrel). It says which choices it ``owns``, ``describe``\\ s one (its
:class:`~sinsr_gui.engine.descriptor.ModelDescriptor`), tells whether it ``is_installed`` (a cheap check)
and ``load``\\ s it; ``listed`` gives its entries for pickers and ``weights list``. A new family (say, an
ncnn import) is one module with one such object, added to :data:`sinsr_gui.engine.models.FAMILIES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sinsr_gui.engine.descriptor import ModelDescriptor, Upscaler
from sinsr_gui.engine.types import ModelRequest


class ModelFamily(Protocol):
    def owns(self, choice: str) -> bool:
        """``choice`` (normalised: "photo", "community:NAME") is one of this family's models."""

    def describe(self, choice: str, request: ModelRequest) -> ModelDescriptor:
        """The model's facts (raises ModelUnavailable when a recorded model is not there)."""

    def is_installed(self, choice: str, request: ModelRequest) -> bool:
        """Its files are present (cheap: the loader verifies them)."""

    def load(self, choice: str, request: ModelRequest) -> Upscaler:
        """The model on ``request.device`` (raises ModelUnavailable with a remedy when it cannot be)."""

    def listed(self, request: ModelRequest) -> list[tuple[ModelDescriptor, bool]]:
        """Every model of the family a picker offers, with whether it can run now."""


@dataclass(frozen=True)
class FixedFamily:
    """A family whose models are known in advance (one descriptor each); ``installed`` and ``loader`` take
    the descriptor and the request."""

    descriptors: tuple[ModelDescriptor, ...]
    installed: Callable[[ModelDescriptor, ModelRequest], bool]
    loader: Callable[[ModelDescriptor, ModelRequest], Upscaler]
    _by_kind: dict[str, ModelDescriptor] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_kind", {d.kind: d for d in self.descriptors})

    def owns(self, choice: str) -> bool:
        return choice in self._by_kind

    def describe(self, choice: str, request: ModelRequest) -> ModelDescriptor:
        return self._by_kind[choice]

    def is_installed(self, choice: str, request: ModelRequest) -> bool:
        return self.installed(self._by_kind[choice], request)

    def load(self, choice: str, request: ModelRequest) -> Upscaler:
        return self.loader(self._by_kind[choice], request)

    def listed(self, request: ModelRequest) -> list[tuple[ModelDescriptor, bool]]:
        return [(d, self.installed(d, request)) for d in self.descriptors]
