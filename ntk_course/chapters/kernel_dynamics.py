"""How the empirical NTK moves during training: kernel velocity and kernel-target alignment.

Fort et al. (2020) follow the tangent kernel of networks through training and find that it moves
fast early on and then settles, and that it turns towards the task. Two numbers measure this on the
training points:

* the kernel distance S(t, t') = 1 - <Theta_t, Theta_t'>_F / (||Theta_t||_F ||Theta_t'||_F) of Fort
  et al. (2020), one minus the cosine between the two Gram matrices, and their kernel velocity
  v(t) = S(t, t + dt) / dt over a fixed interval dt of training time t = eta x steps (0 for a kernel
  that does not turn, in particular a constant one: Theorem 2 in the limit). S ignores the kernel's
  scale: a kernel that only grows or shrinks has velocity 0. For a smoothly turning kernel S is of
  second order in dt, so v depends on dt, which must be fixed to compare times or runs;
* the kernel-target alignment A(Theta, y) = <Theta_c, y y^T>_F / (||Theta_c||_F ||y||^2) of
  Cristianini et al. (2002), with Theta_c = H Theta H the kernel centred over the training points
  (H = I - 11^T/N; the centred alignment of Cortes et al. 2012), which ignores the constant part
  that dominates a ReLU NTK. For a positive semi-definite kernel it lies in [0, 1]: Theta_c and
  y y^T are then both positive semi-definite, and the Frobenius product of two such matrices is
  >= 0. It is 1 when Theta_c is a multiple of y y^T.

:func:`kernel_dynamics` trains one set of initial networks three ways and records both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from ..architecture import Architecture
from ..empirical import empirical_ntk
from ..mlp import NTKMLP
from ..spectral import max_stable_learning_rate
from ..training import train
from .plotting import new_axes

#: The default architecture of the scans: Architecture(depth=3) (frozen, so one shared instance).
DEFAULT_ARCH = Architecture(depth=3)


def _float64(values: object, name: str) -> torch.Tensor:
    """``values`` as a finite float64 tensor, or a ValueError naming ``name``."""
    try:
        t = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be a numeric array; got {type(values).__name__}") from err
    if t.is_complex() or not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must hold finite real numbers")
    return t.to(torch.float64)


def _kernels(kernels: object) -> torch.Tensor:
    k = _float64(kernels, "kernels")
    if k.ndim < 2 or k.shape[-1] != k.shape[-2]:
        raise ValueError(
            f"kernels must be square Gram matrices (..., N, N); got shape {tuple(k.shape)}"
        )
    if bool((k.flatten(-2).norm(dim=-1) == 0).any()):
        raise ValueError("a kernel is zero, so its relative change and its alignment are undefined")
    return k


def kernel_distance(a: object, b: object) -> torch.Tensor:
    """Fort et al. (2020)'s kernel distance 1 - <A, B>_F / (||A||_F ||B||_F) of Gram matrices (...,
    N, N), broadcast; 0 when B is a positive multiple of A. Returns (...) float64."""
    ka, kb = _kernels(a), _kernels(b)
    ka, kb = torch.broadcast_tensors(ka, kb)
    fa, fb = ka.flatten(-2), kb.flatten(-2)
    return 1.0 - (fa * fb).sum(-1) / (fa.norm(dim=-1) * fb.norm(dim=-1))


def kernel_velocity(kernels: object, t: object) -> torch.Tensor:
    """Fort et al. (2020)'s kernel velocity S(K_r, K_{r+1}) / (t_{r+1} - t_r) between consecutive
    kernels (R, [E,] N, N) recorded at times t (R,), S the :func:`kernel_distance`.

    Returns (R - 1, [E]) float64; the times must increase strictly. Their velocity uses one fixed
    interval dt: record the kernels at equally spaced times.
    """
    k = _kernels(kernels)
    tt = _float64(t, "t")
    if tt.shape != k.shape[:1]:
        raise ValueError(
            f"t must hold one time per kernel, shape ({k.shape[0]},); got {tuple(tt.shape)}"
        )
    dt = tt.diff()
    if k.shape[0] < 2 or bool((dt <= 0).any()):
        raise ValueError(
            f"t must hold at least two strictly increasing times; got {tt.tolist()[:6]}"
        )
    change = kernel_distance(k[1:], k[:-1])
    return change / dt.reshape(-1, *([1] * (change.ndim - 1)))


def kernel_alignment(kernels: object, y: object) -> torch.Tensor:
    """Centred kernel-target alignment <H K H, y y^T>_F / (||H K H||_F ||y||^2) of each kernel (...,
    N, N).

    Cristianini et al. (2002), centred as in Cortes et al. (2012); ``y`` (N,) the targets, not all
    equal. Returns (...) float64, in [0, 1] for positive semi-definite kernels (a symmetric kernel
    with negative eigenvalues can give a negative value).
    """
    k = _float64(kernels, "kernels")
    if k.ndim < 2 or k.shape[-1] != k.shape[-2]:
        raise ValueError(
            f"kernels must be square Gram matrices (..., N, N); got shape {tuple(k.shape)}"
        )
    n = k.shape[-1]
    yt = _float64(y, "y")
    if yt.numel() != n:
        raise ValueError(
            f"y must hold one target per point, {n} to match the kernels' size; "
            f"got {tuple(yt.shape)}"
        )
    yt = yt.reshape(n)
    yc = yt - yt.mean()
    if float(yc.norm()) == 0:
        raise ValueError("y must not be constant: a constant target has no centred alignment")
    h = torch.eye(n, dtype=k.dtype) - 1.0 / n
    kc = h @ k @ h
    norm = kc.flatten(-2).norm(dim=-1)
    if bool((norm == 0).any()):
        raise ValueError(
            "a centred kernel is zero (a constant kernel), so its alignment is undefined"
        )
    return torch.einsum("i,...ij,j->...", yc, kc, yc) / (norm * yc.square().sum())


@dataclass
class KernelRun:
    """One way of training: ``t`` (R,) the recorded times t = eta x steps, ``velocity`` (V, E) Fort
    et al.'s kernel velocity over consecutive intervals of ``velocity_steps`` steps, starting at the
    times ``velocity_t`` (V,), ``alignment`` (R, E), ``loss`` (R, E), ``drift`` (E,) ||Theta_T -
    Theta_0|| / ||Theta_0||, ``eta`` the time step and ``lr`` the learning rate of gradient
    descent."""

    t: torch.Tensor
    velocity_t: torch.Tensor
    velocity: torch.Tensor
    alignment: torch.Tensor
    loss: torch.Tensor
    drift: torch.Tensor
    eta: float
    lr: float


@dataclass
class KernelDynamics:
    """``runs[name]`` for each run; ``lr_max`` = 2 / lambda_max(Theta_0 / N), averaged over the
    members."""

    runs: dict[str, KernelRun]
    lr_max: float


#: The interval dt of the kernel velocity, in steps (the sparse records are this far apart).
VELOCITY_STEPS = 5


def _record_steps(steps: int, dense: int) -> list[int]:
    return sorted(
        set(range(min(dense, steps) + 1)) | set(range(dense, steps + 1, VELOCITY_STEPS)) | {steps}
    )


def kernel_dynamics(
    x: object,
    y: object,
    *,
    width: int = 512,
    arch: Architecture = DEFAULT_ARCH,
    steps: int = 200,
    runs: Sequence[tuple[str, str, float]] = (
        ("lazy", "ntk", 0.5),
        ("large learning rate", "ntk", 2.0),
        ("muP", "mup", 0.5),
    ),
    ensemble: int = 4,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> KernelDynamics:
    """Train the same ``ensemble`` initial draws in each of ``runs`` = (name, parametrisation,
    factor).

    Every run uses the time step eta = factor x lr_max, lr_max = 2 / lambda_max(Theta_0 / N) of the
    NTK parametrisation (beyond it the linearised network diverges, eq. (eq-beyond-lr-max) of the
    book), and trains ``arch.replace(parametrization=...)`` with the learning rate lr = eta x
    ``model.lr_scale`` (eta x width for muP). All networks have hidden width ``width`` and are drawn
    from the same seed (so the NTK and muP networks share their hidden features at initialisation);
    the empirical NTK on the training points is recorded at every step for the first 30 steps, then
    every 5, and the kernel velocity is taken over the intervals of 5 steps (dt = 5 eta).

    Parameters
    ----------
    x : array (N, n_0)
        Training points; ``y`` (N,) or (N, 1) their targets.
    width : int
        The hidden width n.
    arch : Architecture
        Depth, activation and beta (its parametrisation is replaced by each run's).
    steps, ensemble, seed
        Steps of gradient descent, networks per run, and the seed of their initialisation.

    Returns
    -------
    KernelDynamics
        One :class:`KernelRun` per run, float64 on the CPU.

    Raises
    ------
    ValueError
        If ``runs`` is empty or a factor is negative, and (from the library) for a bad width,
        parametrisation, points or targets.
    """
    if not runs:
        raise ValueError("runs must hold at least one (name, parametrisation, factor)")
    archs = {
        name: arch.replace(parametrization=p) for name, p, _ in runs
    }  # unknown names fail here
    if any(not factor >= 0 for _, _, factor in runs):
        raise ValueError(f"the factors of lr_max must be >= 0; got {[f for _, _, f in runs]}")
    xt = torch.as_tensor(x).to(device or "cpu").float()
    yt = torch.as_tensor(y).to(xt.device).float().reshape(-1, 1)
    if yt.shape[0] != xt.shape[0]:
        raise ValueError(
            f"y must hold one output per point, shape (N,) or (N, 1); got {tuple(yt.shape)}"
        )

    def make(a: Architecture) -> NTKMLP:
        return a.network(
            xt.shape[1],
            width,
            ensemble=ensemble,
            generator=torch.Generator(xt.device).manual_seed(seed),
            device=xt.device,
        )

    lr_max = float(
        max_stable_learning_rate(
            empirical_ntk(make(arch.replace(parametrization="ntk")), xt).double()
        ).mean()
    )
    record = _record_steps(steps, 30)
    out = {}
    for name, _, factor in runs:
        eta = float(factor) * lr_max
        model = make(archs[name])
        rec = train(
            model, xt, yt, steps=steps, lr=eta * model.lr_scale, record_at=record, kernel_points=xt
        )
        kernels = rec.kernels.double().cpu()
        t = rec.t.cpu() / model.lr_scale
        every = [i for i, k in enumerate(record) if k % VELOCITY_STEPS == 0]
        out[name] = KernelRun(
            t,
            t[every][:-1],
            kernel_velocity(kernels[every], t[every]),
            kernel_alignment(kernels, yt[:, 0].double().cpu()),
            rec.loss.double().cpu(),
            rec.kernel_drift[-1].double().cpu(),
            eta,
            eta * model.lr_scale,
        )
    return KernelDynamics(out, lr_max)


def plot_kernel_dynamics(
    result: KernelDynamics, axes: Sequence[plt.Axes] | None = None
) -> Sequence[plt.Axes]:
    """Left: the kernel velocity against t, at the middle of each recorded interval; right: the
    centred kernel-target alignment against t. One colour per run: the mean over the networks, and
    each faintly."""
    if axes is None:
        _, axes = new_axes(2, width=11, height=4.2)
    left, right = axes
    for k, (name, run) in enumerate(result.runs.items()):
        colour = f"C{k}"
        dt = float(run.velocity_t[1] - run.velocity_t[0]) if len(run.velocity_t) > 1 else 0.0
        mid = run.velocity_t + dt / 2
        shown = name.replace("muP", r"$\mu$P")
        label = f"{shown} ($\\eta = {run.eta / result.lr_max:g}\\,\\eta_{{\\max}}$)"
        left.loglog(mid, run.velocity.mean(1), color=colour, label=label)
        left.loglog(mid, run.velocity, color=colour, alpha=0.2, lw=0.8)
        right.semilogx(run.t[1:], run.alignment[1:].mean(1), color=colour, label=label)
        right.semilogx(run.t[1:], run.alignment[1:], color=colour, alpha=0.2, lw=0.8)
        right.axhline(float(run.alignment[0].mean()), color="0.5", ls=":", lw=1)
    left.set_xlabel("time $t$")
    left.set_ylabel(r"kernel velocity $S(\Theta_t, \Theta_{t + dt}) / dt$")
    right.set_xlabel("time $t$")
    right.set_ylabel(r"centred alignment $A(\Theta_t, y)$")
    left.legend(fontsize=9)
    right.legend(fontsize=9)
    return axes


__all__ = [
    "KernelDynamics",
    "KernelRun",
    "kernel_alignment",
    "kernel_distance",
    "kernel_dynamics",
    "kernel_velocity",
    "plot_kernel_dynamics",
]
