"""SinSR's distillation: the losses (:func:`distillation_losses`) and the trainer (``python -m
sinsr_gui.training.distill``, :mod:`sinsr_gui.training.distill.trainer`)."""

from sinsr_gui.training.distill.losses import distillation_losses

__all__ = ["distillation_losses"]
