"""Leaving the lazy regime at a fixed width: the output scale alpha and a large learning rate.

The chapter ``beyond`` runs both experiments on its page with the library's nouns
(:class:`~ntk_course.Architecture`, :class:`~ntk_course.Centred`, :func:`~ntk_course.train`,
:func:`~ntk_course.empirical_ntk`); this module only summarises what they did and draws it:

* :meth:`LazyTraining.measure`: training alpha (f_theta - f_theta_0) on the cost C / alpha^2 for
  several output scales alpha at once (Chizat, Oyallon & Bach 2019), how far the kernel and the
  weights moved and how far the trained network ends from the frozen-kernel prediction;
  :func:`train_lazily` runs it for several independent networks in one batch
  (:mod:`ntk_course.chapters.lazy_slopes` fits and tests the slopes);
* :meth:`LearningRateSweep.measure`: training copies of one network at multiples of
  lr_max = 2N / lambda_max(Theta_0), below it the kernel regime, above it the catapult of
  Lewkowycz et al. (2020) or divergence;
* :func:`plot_leaving_the_lazy_regime` draws both.

The cost is the paper's, C = 1/(2N) sum_i ||f(x_i) - y_i||^2, and time is t = lr x steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from ..architecture import Architecture
from ..empirical import empirical_ntk
from ..flow import gradient_descent
from ..linearized import Centred
from ..mlp import NTKMLP
from ..training import TrainingRecord, train
from .plotting import new_axes


def _positive(values: Sequence[float] | torch.Tensor, name: str) -> torch.Tensor:
    """``values`` as a 1-d float64 tensor of finite numbers > 0, or a ValueError naming ``name``."""
    t = torch.as_tensor(values, dtype=torch.float64).cpu()
    if t.ndim != 1 or t.numel() == 0 or not bool(torch.isfinite(t).all() and (t > 0).all()):
        raise ValueError(f"{name} must be a non-empty list of finite numbers > 0; got {t.tolist()}")
    return t


@dataclass
class LazyTraining:
    """What training alpha (f_theta - f_theta_0) did, one entry per output scale alpha (A,).

    ``kernel_drift`` ||Theta_T - Theta_0||_F / ||Theta_0||_F of the empirical NTK of f_theta on the
    training points (the NTK of the scaled model is alpha^2 times it; the relative drift is the
    same); ``weight_change`` ||W_T^(0) - W_0^(0)||_F / ||W_0^(0)||_F of the first layer; ``cost``
    the cost C(alpha (f_T - f_0)) of the scaled model; ``f_test`` (A, M) alpha (f_T - f_0) on the
    test points; ``f_kernel`` (M,) the prediction of gradient descent with the frozen kernel Theta_0
    (the same for every alpha), and ``deviation`` (A,) = ||f_test - f_kernel|| / ||f_kernel||.
    ``w_initial`` (width, n_0) and ``w_final`` (A, width, n_0) are the first-layer weights before
    and after training.
    """

    alphas: torch.Tensor
    kernel_drift: torch.Tensor
    weight_change: torch.Tensor
    cost: torch.Tensor
    f_test: torch.Tensor
    f_kernel: torch.Tensor
    deviation: torch.Tensor
    w_initial: torch.Tensor
    w_final: torch.Tensor

    @classmethod
    def measure(
        cls,
        alphas: Sequence[float] | torch.Tensor,
        model: NTKMLP,
        x: torch.Tensor,
        w0: torch.Tensor,
        k0: torch.Tensor,
        record: TrainingRecord,
        f_kernel: torch.Tensor,
    ) -> LazyTraining:
        """Summarise one batched run: member a of the ensemble ``model`` trained f_theta - f_theta_0
        towards y / alpha_a (gradient descent on C(alpha (f_theta - f_theta_0)) / alpha^2 is exactly
        that), from one initialisation copied to every member.

        Parameters
        ----------
        alphas : sequence of A floats > 0
            The output scales, in the order of the ensemble's members.
        model : NTKMLP
            The trained ensemble (E = A members).
        x : tensor (N, n_0)
            The training points.
        w0, k0 : tensor
            The first-layer weights (A, width, n_0) and the empirical NTK on x (N, N) at
            initialisation.
        record : TrainingRecord
            Of ``train(Centred(model), x, y / alpha, x_eval=x_test, record_at=[steps])``.
        f_kernel : tensor (M,)
            The frozen-kernel prediction on x_test (:func:`ntk_course.gradient_descent` with k0).

        Returns
        -------
        LazyTraining
            On the CPU; kernel quantities in float64.

        Raises
        ------
        ValueError
            If an alpha is not > 0 or there are not as many alphas as members.
        """
        a = _positive(alphas, "alphas")
        if model.ensemble != a.numel():
            raise ValueError(
                f"model must have one member per alpha ({a.numel()}); got ensemble={model.ensemble}"
            )
        k1 = empirical_ntk(model, x).double()
        f_test = record.outputs[-1, :, :, 0]
        return cls._summary(
            a, k0, k1, w0[0], model.weights[0].detach(), f_test, f_kernel, record.loss[-1]
        )

    @classmethod
    def _summary(
        cls,
        a: torch.Tensor,
        k0: torch.Tensor,
        k1: torch.Tensor,
        w0: torch.Tensor,
        w1: torch.Tensor,
        f_centred: torch.Tensor,
        f_kernel: torch.Tensor,
        loss: torch.Tensor,
    ) -> LazyTraining:
        """One initialisation's summary: ``k0`` (N, N) and ``w0`` (width, n_0) at initialisation,
        ``k1`` (A, N, N), ``w1`` (A, width, n_0), ``f_centred`` (A, M) f_T - f_0 on the test points
        and ``loss`` (A,) the cost of f_T - f_0 against y / alpha, after training."""
        device = k1.device
        scale = a.to(device=device, dtype=torch.float64)[:, None]
        drift = (k1 - k0).flatten(1).norm(dim=1) / k0.norm()
        moved = (w1 - w0).flatten(1).norm(dim=1) / w0.norm()
        f_test = f_centred.double() * scale
        deviation = (f_test - f_kernel).norm(dim=1) / f_kernel.norm()
        cost = loss.double() * scale[:, 0] ** 2
        return cls(
            a,
            drift.cpu(),
            moved.double().cpu(),
            cost.cpu(),
            f_test.cpu(),
            f_kernel.cpu(),
            deviation.cpu(),
            w0.cpu(),
            w1.cpu(),
        )


def train_lazily(
    arch: Architecture,
    alphas: Sequence[float] | torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    x_test: torch.Tensor,
    *,
    width: int,
    steps: int = 200,
    networks: int = 1,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> list[LazyTraining]:
    """Train alpha (f_theta - f_theta_0) on C / alpha^2 for every output scale alpha, from
    ``networks`` independent initialisations (Chizat, Oyallon & Bach 2019).

    Gradient descent on C(alpha (f_theta - f_theta_0)) / alpha^2 with learning rate 1 is gradient
    descent on C(f_theta - f_theta_0) against the targets y / alpha, so one ensemble runs every
    (network, alpha) pair at once: member s A + a is a copy of network s aiming at y / alpha_a.
    The frozen-kernel prediction of each network is gradient descent with its own Theta_0 for the
    same steps (:func:`ntk_course.gradient_descent`), which is what the linearised network reaches.

    Parameters
    ----------
    arch : Architecture
        Depth, activation, beta and parametrisation of the networks.
    alphas : sequence of A floats > 0
        The output scales.
    x, y : tensor (N, n_0), (N, 1)
        Training points and targets; ``x_test`` (M, n_0) the points of the prediction.
    width, steps, networks, seed
        Hidden width, steps of gradient descent (learning rate 1, so t = steps), independent
        networks, and the seed of their initialisation.
    dtype : torch.dtype, default float32
        Of the networks. At large alpha a weight moves by ~1e-6 of its size per step, near float32
        round-off, which puts a floor under the distance to the linearisation: use float64 there.

    Returns
    -------
    list of LazyTraining
        One per network, on the CPU.

    Raises
    ------
    ValueError
        If an alpha is not > 0 or ``networks`` < 1, and (from the library) for a bad width or
        points.
    """
    a = _positive(alphas, "alphas")
    if networks < 1:
        raise ValueError(f"networks must be >= 1; got {networks}")
    n_alpha, device = a.numel(), x.device
    net = arch.network(
        x.shape[1],
        width,
        ensemble=networks * n_alpha,
        generator=torch.Generator(device).manual_seed(seed),
        dtype=dtype,
        device=device,
    )
    with torch.no_grad():  # member s A + a becomes a copy of member s A
        for p in net.parameters():
            p.copy_(p[::n_alpha].repeat_interleave(n_alpha, dim=0))
    first = slice(None, None, n_alpha)
    k0 = empirical_ntk(net, x)[first].double()
    kx0 = empirical_ntk(net, x_test, x)[first].double()
    w0 = net.weights[0].detach()[first].clone()
    x = x.to(dtype)
    x_test = x_test.to(dtype)
    y32 = y.to(dtype).reshape(-1, 1)
    scale = a.repeat(networks).to(device=device, dtype=dtype)[:, None, None]
    record = train(Centred(net), x, y32 / scale, steps=steps, record_at=[steps], x_eval=x_test)
    k1, w1 = empirical_ntk(net, x).double(), net.weights[0].detach()
    out = []
    for s in range(networks):
        rows = slice(s * n_alpha, (s + 1) * n_alpha)
        frozen = gradient_descent(
            k0[s], y32[:, 0].double(), [steps], lr=1.0, k_test_train=kx0[s]
        ).f_test[-1]
        out.append(
            LazyTraining._summary(
                a,
                k0[s],
                k1[rows],
                w0[s],
                w1[rows],
                record.outputs[-1, rows, :, 0],
                frozen,
                record.loss[-1, rows],
            )
        )
    return out


@dataclass
class LearningRateSweep:
    """Gradient descent at learning rates lr = factor x 2N / lambda_max(Theta_0), one entry per
    factor (F,).

    ``lr_max`` is 2N / lambda_max(Theta_0) of the initial network; ``kernel_drift`` the relative
    change of its empirical NTK; ``top_eigenvalue_ratio`` lambda_max(Theta_T) / lambda_max(Theta_0);
    ``cost`` the final cost. A diverged run (non-finite cost) has ``inf`` cost and NaN drift and
    ratio.
    """

    factors: torch.Tensor
    lr_max: float
    kernel_drift: torch.Tensor
    top_eigenvalue_ratio: torch.Tensor
    cost: torch.Tensor

    @classmethod
    def measure(
        cls,
        factors: Sequence[float] | torch.Tensor,
        lr_max: float,
        k0: torch.Tensor,
        runs: Mapping[float, tuple[torch.Tensor, float]],
    ) -> LearningRateSweep:
        """Summarise the runs at lr = factor x ``lr_max`` from one network with empirical NTK
        ``k0``.

        Parameters
        ----------
        factors : sequence of F floats > 0
            The multiples of lr_max that were tried.
        lr_max : float
            2N / lambda_max(Theta_0) (:func:`ntk_course.max_stable_learning_rate` of ``k0``).
        k0 : tensor (N, N)
            The empirical NTK on the training points at initialisation.
        runs : mapping factor -> (Theta_T (N, N), final cost)
            The runs that converged or stayed finite; a factor missing here diverged.

        Returns
        -------
        LearningRateSweep
            Float64 on the CPU.

        Raises
        ------
        ValueError
            If a factor is not > 0, or ``runs`` holds a factor that is not in ``factors``.
        """
        fs = _positive(factors, "factors")
        if not set(runs) <= set(fs.tolist()):
            raise ValueError(
                f"runs must be keyed by factors from {fs.tolist()}; got {sorted(runs)}"
            )
        top0 = torch.linalg.eigvalsh(k0)[-1]
        drift, ratio, cost = [], [], []
        for f in fs.tolist():
            if f not in runs:  # diverged: train() refuses to go on once the cost is not finite
                drift.append(float("nan")), ratio.append(float("nan")), cost.append(float("inf"))
                continue
            k1, final = runs[f]
            drift.append(float((k1 - k0).norm() / k0.norm()))
            ratio.append(float(torch.linalg.eigvalsh(k1)[-1] / top0))
            cost.append(float(final))
        as_t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
        return cls(fs, float(lr_max), as_t(drift), as_t(ratio), as_t(cost))


def plot_leaving_the_lazy_regime(
    lazy: LazyTraining, catapult: LearningRateSweep, axes: Sequence[plt.Axes] | None = None
) -> Sequence[plt.Axes]:
    """Left: kernel drift, first-layer movement and distance to the frozen-kernel prediction against
    the output scale alpha. Right: kernel drift and lambda_max(Theta_T) / lambda_max(Theta_0)
    against lr / lr_max, with crosses where training diverged."""
    if axes is None:
        _, axes = new_axes(2, width=11)
    left, right = axes
    left.loglog(
        lazy.alphas,
        lazy.kernel_drift,
        "o-",
        label=r"kernel drift $\|\Theta_T - \Theta_0\| / \|\Theta_0\|$",
    )
    left.loglog(
        lazy.alphas, lazy.weight_change, "s-", label=r"first-layer move $\|W_T - W_0\| / \|W_0\|$"
    )
    left.loglog(lazy.alphas, lazy.deviation, "^-", label="distance to the frozen-kernel prediction")
    left.set_xlabel(r"output scale $\tau$")
    left.set_ylabel("relative change")
    left.legend(fontsize=9)
    ok = torch.isfinite(catapult.cost)
    right.plot(catapult.factors[ok], catapult.kernel_drift[ok], "o-", label="kernel drift")
    right.plot(
        catapult.factors[ok],
        catapult.top_eigenvalue_ratio[ok],
        "s-",
        label=r"$\lambda_{\max}(\Theta_T) / \lambda_{\max}(\Theta_0)$",
    )
    right.plot(
        catapult.factors[~ok], torch.ones(int((~ok).sum())), "kx", ms=10, mew=2, label="diverged"
    )
    right.axvline(1.0, color="gray", ls=":")
    right.set_xlabel(r"learning rate $\eta / \eta_{\max}$")
    right.set_ylabel("after training")
    right.legend(fontsize=9)
    return axes


__all__ = [
    "LazyTraining",
    "LearningRateSweep",
    "plot_leaving_the_lazy_regime",
    "train_lazily",
]
