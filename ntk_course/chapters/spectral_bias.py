"""Spectral bias on the circle: a multi-frequency target learned frequency by frequency (Section 5).

On N equally spaced points of the unit circle the limiting NTK is a circulant matrix, its
eigenvectors are the Fourier modes cos(k g), sin(k g), and the least-squares flow of Section 5
shrinks the residual's k-th Fourier coefficient by exactly exp(-lambda_k t), lambda_k the eigenvalue
of K/N for frequency k (:func:`ntk_course.harmonics.circulant_eigenvalues`). The chapter trains an
ensemble of finite NTK-parametrised networks on a target made of a few frequencies, on its page
(:func:`run` is the same loop); :meth:`SpectralBiasResult.from_record` sets the training record
next to the exact kernel flow (:func:`ntk_course.flow.gradient_flow`) and gradient descent on the
limiting kernel (:func:`ntk_course.flow.gradient_descent`, the same steps as the networks), and
records for every frequency of the target the residual's Fourier coefficient projected on its value
at t = 0,

    p_k(t) = Re(c_k(t) conj(c_k(0))) / |c_k(0)|^2,
    c_k(t) = (2/N) sum_j (f_t(x_j) - y_j) e^{-i k g_j},

which is e^{-lambda_k t} for the flow and (1 - eta lambda_k)^{t/eta} for gradient descent with
learning rate eta and the limiting kernel. For a network, with D_j = (Theta_j - Theta_infinity)/N
its kernel's distance from the limit at step j and e_j = r_{j+1} - r_j + eta Theta_j r_j / N the
part of the step the kernel does not explain (r the residual on the data), projecting one step on
frequency k gives exactly

    c_k(j+1) = (1 - eta lambda_k) c_k(j) - eta [D_j r_j]_k + [e_j]_k.

For one hidden layer E[Theta_0] = Theta_infinity at every width (Theta_0 is a mean of n iid terms),
so to first order in D the network's p_k deviates from the limit by a mean-zero amount of order
n^{-1/2} (Theorem 2): the ensemble's mean rate is an unbiased estimate of the predicted one, and the
spread between networks is its sampling error. :func:`predicted_rates` makes the prediction from the
limiting kernel alone, before any training; :func:`rate_test` compares it with the ensemble's fitted
rates by a t-test over the networks and gives its power against the rates of another kernel (the
limit of another depth).

Before any training, the networks at initialisation also bound the error if their kernel stays
at Theta_0 (Theorem 2: it moves by O(n^{-1/2})): with D = (Theta_0 - Theta_infinity)/N, q_k = 1 -
eta lambda_k and ||I - eta Theta_0/N||_op <= 1, the residual never grows and

    |p_k(t) - (1 - eta lambda_k)^{t/eta}|
        <= 2 ||D||_op ||r_0|| eta (1 - |q_k|^{t/eta}) / ((1 - |q_k|) sqrt(N) |c_k(0)|),

:func:`prior_bound`, a prediction that the trained networks can fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..architecture import Architecture
from ..datasets import circle_points
from ..empirical import empirical_ntk
from ..flow import gradient_descent, gradient_flow
from ..harmonics import circulant_eigenvalues, harmonic_multiplicity
from ..mlp import NTKMLP
from ..training import TrainingRecord, train
from .spectral_bias_plots import FilterFigure, plot_decay, plot_functions, plot_spectra
from .spectral_bias_settings import FINE, SpectralBiasSettings, target
from .spectral_bias_stats import RateTest, first_correction, rate_test

# Rates are fitted over lambda_k t <= FIT_DECAY (the coefficient falls to e^-3 ~ 5 %).
FIT_DECAY = 3.0


@dataclass
class SpectralBiasResult:
    """What :meth:`from_record` computed (CPU float64), at every step: ``t`` (S + 1,).

    ``eigenvalues`` (N//2 + 1,) the lambda_k of Theta_XX / N per frequency; ``gamma`` (M,) fine
    angles (the training points are every FINE-th) and ``target`` (M,) the goal on them. For the
    target's F frequencies: ``flow`` (S + 1, F) the projections p_k of the exact flow, ``limit``
    (S + 1, F) those of gradient descent on Theta_infinity and ``network`` (S + 1, E, F) the
    networks'. ``flow_fit``
    (S + 1, M) the flow started from the networks' mean f_0 and ``network_fit`` (S + 1, E, M) the
    networks, on the fine angles; ``loss`` (S + 1, E).
    """

    settings: SpectralBiasSettings
    t: torch.Tensor
    eigenvalues: torch.Tensor
    gamma: torch.Tensor
    target: torch.Tensor
    flow: torch.Tensor
    limit: torch.Tensor
    network: torch.Tensor
    flow_fit: torch.Tensor
    network_fit: torch.Tensor
    loss: torch.Tensor

    @property
    def lam(self) -> torch.Tensor:
        """lambda_k for the target's frequencies, (F,)."""
        return self.eigenvalues[list(self.settings.frequencies)]

    @property
    def discrete_rate(self) -> torch.Tensor:
        """-log(1 - eta lambda_k) / eta: the rate of gradient descent with the limiting kernel,
        (F,)."""
        return -torch.log1p(-self.settings.lr * self.lam) / self.settings.lr

    def _window(self) -> torch.Tensor:
        """(S + 1, F): the times of the fits, 0 < t with lambda_k t <= FIT_DECAY."""
        return (self.t[:, None] * self.lam[None, :] <= FIT_DECAY) & (self.t[:, None] > 0)

    def fitted_rates(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rates r fitted to p_k(t) = e^{-r t} over the window: (flow (F,), limit (F,), networks (E,
        F))."""
        w = self._window()

        def fit(p: torch.Tensor) -> torch.Tensor:
            return torch.stack([_slope(self.t[w[:, f]], p[w[:, f], f]) for f in range(w.shape[1])])

        nets = torch.stack([fit(self.network[:, e]) for e in range(self.network.shape[1])])
        return fit(self.flow), fit(self.limit), nets

    @classmethod
    def from_record(
        cls, settings: SpectralBiasSettings, record: TrainingRecord
    ) -> SpectralBiasResult:
        """Analyse the networks' training next to the exact flow and gradient descent on
        Theta_infinity.

        ``record`` is what :func:`ntk_course.train` returned for the ``ensemble`` networks of
        ``settings.arch`` trained on the target at the ``n_points`` training points (every
        ``FINE``-th point of ``circle_points(n_points * FINE)``), ``steps`` steps of learning rate
        ``lr``, recorded at every step with ``x_eval`` the fine points. The limit is computed on
        the record's device: the flow and gradient descent on Theta_infinity, the projections p_k
        of all three, and the flow started from the networks' mean f_0 on the fine points.

        Raises ValueError if the record does not have this shape ((S + 1, E, M, 1) outputs).
        """
        s = settings
        n_fine = s.n_points * FINE
        want = (s.steps + 1, s.ensemble, n_fine, 1)
        if record.outputs is None or tuple(record.outputs.shape) != want:
            raise ValueError(
                f"the record must hold outputs {want} on the fine points at every step "
                "(train(..., x_eval=x_fine)); got outputs "
                f"{None if record.outputs is None else tuple(record.outputs.shape)}"
            )
        dev, arch = record.outputs.device, s.arch
        x_fine, g_fine, goal, x, y = _data(s, dev)
        k_inf = arch.ntk(x)
        lam = circulant_eigenvalues(k_inf).cpu()
        steps = list(range(s.steps + 1))
        t = torch.tensor(steps, dtype=torch.float64) * s.lr
        flow = gradient_flow(k_inf, y, t.to(dev))
        limit = gradient_descent(k_inf, y, steps, lr=s.lr)
        fits = record.outputs[..., 0].double()  # (S + 1, E, M)
        start = fits[0].mean(
            0
        )  # the networks' average f_0: the flow drawn next to them starts there
        drawn = gradient_flow(
            k_inf,
            y,
            t.to(dev),
            k_test_train=arch.ntk(x_fine, x),
            f0_train=start[::FINE],
            f0_test=start,
        )
        fits, y, k_inf = fits.cpu(), y.cpu(), k_inf.cpu()
        residual = fits[..., ::FINE] - y
        return cls(
            settings=s,
            t=t,
            eigenvalues=lam,
            gamma=g_fine.cpu(),
            target=goal.cpu(),
            flow=_projection(flow.f_train.cpu() - y, s.frequencies),
            limit=_projection(limit.f_train.cpu() - y, s.frequencies),
            network=_projection(residual, s.frequencies),
            flow_fit=drawn.f_test.cpu(),
            network_fit=fits,
            loss=record.loss.double().cpu(),
        )


def _slope(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """The rate r of p = e^{-r t} by least squares on log p through the origin (p(0) = 1 by
    construction)."""
    if bool((p <= 0).any()):
        raise ValueError(
            "a projected coefficient changed sign inside the fit window: the mode is not decaying"
        )
    return -(t * p.log()).sum() / (t * t).sum()


def fourier_coefficient(values: torch.Tensor, k: int) -> torch.Tensor:
    """c_k = (2/N) sum_j f(x_j) e^{-i k g_j} over the last axis (N equally spaced points from g =
    -pi)."""
    n = values.shape[-1]
    return torch.fft.fft(values, dim=-1)[..., k] * (2.0 / n) * (-1) ** k  # g_j = -pi + 2 pi j / N


def _projection(residual: torch.Tensor, freqs: tuple[int, ...]) -> torch.Tensor:
    """p_k(t) for residuals (S + 1, ..., N): (S + 1, ..., F)."""
    out = []
    for k in freqs:
        c = fourier_coefficient(residual, k)
        out.append((c * c[:1].conj()).real / c[:1].abs() ** 2)
    return torch.stack(out, -1)


def _data(settings: SpectralBiasSettings, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The fine angles and points (every FINE-th is a training point) and the target on both."""
    x_fine, g_fine = circle_points(settings.n_points * FINE, device=device)
    goal = target(settings, g_fine)
    return x_fine, g_fine, goal, x_fine[::FINE], goal[::FINE]


def networks(settings: SpectralBiasSettings, device: torch.device | str | None = None) -> NTKMLP:
    """The ``ensemble`` networks of the experiment at initialisation, ``settings.arch.network(2,
    width)``, drawn from the seed ``settings.seed`` (so :func:`run` and :func:`prior_bound` see the
    same ones)."""
    dev = torch.device(device or "cpu")
    seed = torch.Generator(device=dev).manual_seed(settings.seed)
    return settings.arch.network(
        2, settings.width, ensemble=settings.ensemble, generator=seed, device=dev
    )


def prior_bound(
    settings: SpectralBiasSettings, device: torch.device | str | None = None
) -> torch.Tensor:
    """A bound on max_t |p_k(t) - (1 - eta lambda_k)^{t/eta}| from the networks at initialisation
    alone.

    If the kernel stays at its initial value Theta_0 (Theorem 2, up to O(n^{-1/2})), the residual
    r_j obeys r_{j+1} = (I - eta Theta_0/N) r_j and its distance d_j to the limit's residual d_{j+1}
    = (I - eta Theta_inf/N) d_j - eta D r_j, D = (Theta_0 - Theta_inf)/N. With ||I - eta
    Theta_0/N||_op <= 1 (checked) ||r_j|| <= ||r_0||, and |c_k(v)| <= (2/sqrt(N)) ||v|| for any v,
    so frequency by frequency (q_k = 1 - eta lambda_k)

        |p_k(t) - (1 - eta lambda_k)^{t/eta}| <= |c_k(d_j)| / |c_k(0)|
            <= 2 ||D||_op ||r_0|| eta (1 - |q_k|^j) / ((1 - |q_k|) sqrt(N) |c_k(0)|),   j = t / eta.

    Nothing of the training enters: a trained network outside it moved away from its initial kernel
    more than Theorem 2 allows (or is not in the lazy regime at all).

    Parameters
    ----------
    settings : SpectralBiasSettings
        The experiment (its networks are :func:`networks`).
    device
        Where the networks are drawn and their kernels computed (CPU by default).

    Returns
    -------
    torch.Tensor
        (E, F) float64 on the CPU: the bound at the final time t, per network and target frequency
        (it grows with t, so it holds at every earlier time).

    Raises
    ------
    ValueError
        If a step could grow the residual (eta lambda_max(Theta_0/N) > 2), where the bound does
        not hold.
    """
    s, dev = settings, torch.device(device or "cpu")
    _, _, _, x, y = _data(s, dev)
    net = networks(s, dev)
    with torch.no_grad():
        r0 = net(x.float())[..., 0].double() - y  # (E, N)
    k0 = empirical_ntk(net, x.float()).double()  # (E, N, N): Theta_0 of every network
    k_inf, n = s.arch.ntk(x), s.n_points
    if float(torch.linalg.eigvalsh(k0).amax()) * s.lr / n > 2:
        raise ValueError(
            f"lr = {s.lr} exceeds 2 / lambda_max(Theta_0 / N): a step can grow the residual"
        )
    drift = torch.linalg.matrix_norm((k0 - k_inf) / n, 2)  # (E,): ||D||_op
    lam = circulant_eigenvalues(k_inf)
    rows = []
    for k in s.frequencies:
        q = abs(1 - s.lr * float(lam[k]))
        growth = s.lr * (1 - q**s.steps) / (1 - q)
        rows.append(
            2 * drift * r0.norm(dim=-1) * growth / (math.sqrt(n) * fourier_coefficient(r0, k).abs())
        )
    return torch.stack(rows, -1).cpu()


def frozen_kernel_rates(
    settings: SpectralBiasSettings, device: torch.device | str | None = None
) -> torch.Tensor:
    """The rates each network would have if its kernel stayed at its initial value Theta_0.

    The linearised network of Section 4 (the kernel frozen at Theta_0, Theorem 2's limit taken at
    finite width) follows r_{j+1} = (I - eta Theta_0 / N) r_j from its own initial residual r_0;
    the rate is fitted to its p_k(t) over the window of :meth:`SpectralBiasResult.fitted_rates`.
    Nothing is trained: set beside the trained networks (the same draws, :func:`networks`), the
    difference is what the kernel's drift during training did, network by network.

    Returns
    -------
    torch.Tensor
        (E, F) float64 on the CPU, for the target's frequencies.
    """
    s, dev = settings, torch.device(device or "cpu")
    _, _, _, x, y = _data(s, dev)
    net = networks(s, dev)
    with torch.no_grad():
        r = net(x.float())[..., 0].double() - y  # (E, N)
    step = torch.eye(s.n_points, dtype=torch.float64, device=dev) - s.lr * (
        empirical_ntk(net, x.float()).double() / s.n_points
    )
    residuals = [r]
    for _ in range(s.steps):
        residuals.append(torch.einsum("enm,em->en", step, residuals[-1]))
    p = _projection(torch.stack(residuals).cpu(), s.frequencies)  # (S + 1, E, F)
    t = torch.arange(s.steps + 1, dtype=torch.float64) * s.lr
    lam, _ = predicted_rates(s)
    rows = []
    for f in range(len(s.frequencies)):
        w = (t * lam[f] <= FIT_DECAY) & (t > 0)
        rows.append(torch.stack([_slope(t[w], p[w, e, f]) for e in range(p.shape[1])]))
    return torch.stack(rows, -1)


def predicted_rates(
    settings: SpectralBiasSettings, depth: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The prediction, from the limiting kernel alone (no network is drawn or trained).

    On the ``n_points`` equally spaced points, gradient descent with learning rate eta on
    Theta_infinity multiplies the residual's k-th Fourier coefficient by 1 - eta lambda_k per step
    (Jacot et al. 2018, Section 5, discretised), so p_k(t) = e^{-rho_k t} with the rate
    rho_k = -log(1 - eta lambda_k) / eta, and the learning time (p_k = 1/e) is 1 / rho_k.

    Parameters
    ----------
    settings : SpectralBiasSettings
        The experiment: points, learning rate, frequencies, activation and beta.
    depth : int, optional
        The depth of the limiting kernel (``settings.depth`` by default; another depth gives an
        alternative hypothesis for :func:`rate_test`).

    Returns
    -------
    tuple of torch.Tensor
        (lambda_k, rho_k) for the target's frequencies, each (F,) float64 on the CPU.

    Raises
    ------
    ValueError
        If eta lambda_k >= 1 for a target frequency (the coefficient would not decay monotonically).
    """
    s = settings
    arch = Architecture(s.depth if depth is None else depth, "relu", s.beta)
    x, _ = circle_points(s.n_points)
    lam = circulant_eigenvalues(arch.ntk(x)).cpu()[list(s.frequencies)]
    if bool((s.lr * lam >= 1).any()):
        raise ValueError(f"lr * lambda_k must be < 1; got {(s.lr * lam).tolist()}")
    return lam, -torch.log1p(-s.lr * lam) / s.lr


def run(
    settings: SpectralBiasSettings, device: torch.device | str | None = None
) -> SpectralBiasResult:
    """Train the networks of :func:`networks` on the target and analyse them
    (:meth:`SpectralBiasResult.from_record`): the loop the chapter writes on its page."""
    s, dev = settings, torch.device(device or "cpu")
    x_fine, _, _, x, y = _data(s, dev)  # x: circle_points(n_points), the same angles
    rec = train(
        networks(s, dev),
        x.float(),
        y[:, None].float(),
        steps=s.steps,
        lr=s.lr,
        x_eval=x_fine.float(),
    )
    return SpectralBiasResult.from_record(s, rec)


def cluster_means(
    eigenvalues: torch.Tensor, mu: torch.Tensor, n0: int, degrees: int
) -> torch.Tensor:
    """Means of the first ``degrees`` clusters of the eigenvalues of K/N (descending), cluster k
    holding N(n0, k) eigenvalues, next to the second-order prediction: (degrees, 3) rows (mean, mu_k
    (1 + delta_k), s_k mu_k), delta_k = (1/N) sum_{l != k} N(n0, l) mu_l / (mu_k - mu_l), s_k the
    same with |mu_k - mu_l| (test_harmonics)."""
    n = eigenvalues.shape[0]
    mult = torch.tensor(
        [harmonic_multiplicity(n0, k) for k in range(mu.shape[0])], dtype=torch.float64
    )
    ends = torch.cumsum(mult[:degrees], 0).long().tolist()
    rows = []
    for k, (start, end) in enumerate(zip([0, *ends[:-1]], ends)):
        others = torch.arange(mu.shape[0]) != k
        gap = mu[k] - mu[others]
        b = (mult[others] * mu[others] / gap).sum() / n
        s_k = (mult[others] * mu[others] / gap.abs()).sum() / n
        rows.append(torch.stack([eigenvalues[start:end].mean(), mu[k] * (1 + b), mu[k] * s_k]))
    return torch.stack(rows)


__all__ = [
    "FINE",
    "FIT_DECAY",
    "FilterFigure",
    "RateTest",
    "SpectralBiasResult",
    "SpectralBiasSettings",
    "cluster_means",
    "first_correction",
    "fourier_coefficient",
    "frozen_kernel_rates",
    "networks",
    "plot_decay",
    "plot_functions",
    "plot_spectra",
    "predicted_rates",
    "prior_bound",
    "rate_test",
    "run",
    "target",
]
