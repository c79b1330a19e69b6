"""Refit on all data: once early stopping on the validation slice has picked the number of
steps, fit again on every pair (fit + validation + held-out) for that many steps, from the
winning restart's seed. The held-out figures stay those of the fit that held the slices out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from model.fitting import FitConfig, FitResult, PairTensors, fit_once


class NoStepError(RuntimeError):
    """The fit kept no optimisation step: nothing worth writing."""


def check_trained(result: FitResult) -> None:
    """Refuse a fit whose best state is its initial one (validation never improved or was never checked)."""
    if result.steps <= 0:
        raise NoStepError(
            f"the fit made no optimisation step that was kept (validation NLL {result.val_nll}); "
            "raise --max-steps or check the validation data"
        )


def restart_seed(cfg: FitConfig, restart: int) -> int:
    """The seed model.fitting.fit_mixture gives restart ``restart``."""
    return cfg.seed * 1000 + restart


def refit_on_all(
    data: PairTensors, cfg: FitConfig, picked: FitResult, on_step: Callable[[], None] | None = None
) -> FitResult:
    """``picked.steps`` full-batch steps on every pair; no early stopping (the checks every
    ``cfg.eval_every`` steps only keep the state of lowest training NLL, the last in practice)."""
    steps = picked.steps
    result = fit_once(data, data, replace(cfg, max_steps=steps, patience=steps + 1), restart_seed(cfg, picked.restart), on_step)
    result.restart = picked.restart
    result.model.eval().requires_grad_(False)
    return result
