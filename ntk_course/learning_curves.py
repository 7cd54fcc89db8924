"""Spectral learning curves of kernel regression, and the data-dependent bound of Arora et al.

The end of least-squares training from f_0 = 0 is kernel regression (Section 5 of Jacot, Gabriel &
Hongler 2018). How its test error falls with the number P of training points is predicted by the
kernel's eigenvalues eta_k and the target's power v_k^2 along the eigenfunctions (Bordelon, Canatar
& Pehlevan 2020; Canatar, Bordelon & Pehlevan 2021; Simon et al. 2023, "eigenlearning"):

* :func:`target_powers`: eta_k and v_k^2 measured on data, with the course's spectral conventions
  (non-centred kernel PCA of Pi = K/N, :func:`ntk_course.spectral.kernel_pca`);
* :func:`self_consistent_kappa` and :func:`predicted_error`: the self-consistent prediction
  E_g(P) = (1/(1 - gamma)) sum_k (kappa/(kappa + P eta_k))^2 v_k^2 (+ noise);
* :func:`spectral_exponents` and :func:`extend_power_law`: the exponents alpha (eta_k ~ k^-alpha)
  and b (sum_{k>K} v_k^2 ~ K^-b), and the spectrum continued past the measured modes;
* :func:`arora_gram` and :func:`arora_bound`: the Gram matrix H of a two-layer ReLU network whose
  hidden layer is trained, and sqrt(2 y^T H^-1 y / N) (Arora, Du, Hu, Li & Wang 2019, Thm 5.1).

Letters: this module keeps the papers', so that each formula can be checked against its source.
The chapter ``book/learning_curves.md`` writes them in the course's notation (``book/notation.md``):
the number of training points P (n in the functions) is N, eta_k is lambda-bar_k, kappa (in the
functions: Simon et al.'s, in the units of eta_k; Canatar et al.'s is n kappa) is the effective
ridge zeta_eff, alpha and b are the exponents a and b, and Arora et al.'s H is G^inf.
"""

from __future__ import annotations

import math

import torch
from scipy.optimize import brentq

from ._checks import as_inputs, finite_array, kernel_matrix, non_negative, positive_int
from .power_laws import PowerLaw, power_law_fit
from .spectral import kernel_pca

__all__ = [
    "arora_bound",
    "arora_gram",
    "extend_power_law",
    "predicted_error",
    "predicted_exponent",
    "self_consistent_kappa",
    "spectral_exponents",
    "target_powers",
]


def target_powers(k_train: object, y: object) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel's eigenvalues on the data and the target's power along each eigenfunction.

    With Pi = K/N on the N points (the empirical distribution as the population), eta_k are the
    eigenvalues of K/N, descending, and f^(k) the non-centred kernel principal components,
    normalised in p_in (:func:`ntk_course.spectral.kernel_pca`). The target's coefficients are
    <y, f^(k)>_{p_in} = (1/N) sum_j y(x_j) f^(k)(x_j), and its power along f^(k) is their square,
    summed over the outputs: v_k^2 = sum_c <y_c, f^(k)>_{p_in}^2 (the target weights of Canatar et
    al. 2021, Eq. 4). By Parseval, sum_k v_k^2 is (1/N) times the sum over the points of the
    squared norms of y(x_j).

    Parameters
    ----------
    k_train : array_like
        Shape (N, N): a symmetric PSD kernel matrix on the points.
    y : array_like
        Shape (N,) or (N, C): the target on the points.

    Returns
    -------
    eigenvalues : torch.Tensor
        Shape (N,), float64: eta_k, descending.
    powers : torch.Tensor
        Shape (N,), float64: v_k^2.

    Raises
    ------
    ValueError
        As :func:`~ntk_course.spectral.kernel_pca`, or if ``y`` is not finite with N rows.
    """
    k = kernel_matrix(k_train, "k_train", symmetric=True)
    n = k.shape[0]
    target = finite_array(y, "y", rows=n, match="k_train's N points", device=k.device)
    target = target[:, None] if target.ndim == 1 else target
    pca = kernel_pca(k)
    coef = pca.components.mT @ target / n
    return pca.eigenvalues, coef.square().sum(-1)


def _spectrum(eigenvalues: object, powers: object | None = None) -> tuple[torch.Tensor, ...]:
    eta = finite_array(eigenvalues, "eigenvalues", ndims=(1,))
    if bool((eta < 0).any()):
        raise ValueError("eigenvalues must be >= 0 (those of a PSD kernel operator)")
    if powers is None:
        return (eta,)
    v2 = finite_array(
        powers,
        "powers",
        ndims=(1,),
        rows=eta.numel(),
        match="one per eigenvalue",
        device=eta.device,
    )
    if bool((v2 < 0).any()):
        raise ValueError("powers must be >= 0 (squared coefficients v_k^2)")
    return eta, v2


def self_consistent_kappa(eigenvalues: object, n: int, ridge: float = 0.0) -> float:
    """The effective regularisation kappa of kernel regression on n points.

    kappa > 0 solves sum_k eta_k / (eta_k + kappa) + n ridge / kappa = n (the eigenlearning
    equation of Simon et al. 2023; the implicit equation of Canatar et al. 2021 with their Eq. 4,
    in kappa_C = n kappa). ``ridge`` is in the course's units,
    the eigenvalues of K/N (:func:`ntk_course.regression.kernel_regression`, K + n ridge I). The
    left side falls from (number of eta_k > 0) + infinity to 0 as kappa grows, so the root is
    unique; it is found by Brent's method (:func:`scipy.optimize.brentq`) on log kappa, in a
    bracket the equation gives, to relative precision 1e-13.

    Parameters
    ----------
    eigenvalues : array_like
        Shape (K,): eta_k >= 0, the population eigenvalues of the kernel.
    n : int
        The number of training points, >= 1.
    ridge : float, default 0.0
        >= 0. Without a ridge n must be below the number of positive eigenvalues.

    Returns
    -------
    float
        kappa, in the units of the eigenvalues.

    Raises
    ------
    ValueError
        If the eigenvalues are not finite and >= 0, n < 1, ridge < 0, or ridge = 0 and n is not
        below the number of positive eigenvalues (ridgeless regression then interpolates the
        whole population and kappa = 0).
    """
    (eta,) = _spectrum(eigenvalues)
    n = positive_int(n, "n")
    ridge = non_negative(ridge, "ridge")
    rank = int((eta > 0).sum())
    if ridge == 0 and n >= rank:
        raise ValueError(
            f"ridgeless kernel regression needs n below the number of positive eigenvalues "
            f"({rank}); got n = {n}: pass a ridge > 0 or more eigenvalues"
        )

    def excess(log_kappa: float) -> float:
        kappa = math.exp(log_kappa)
        return float((eta / (eta + kappa)).sum()) + n * ridge / kappa - n

    # A bracket from the equation itself: the sum is below sum_k eta_k / kappa, so the left side is
    # below n at hi; above n at lo, where each of the rank positive terms exceeds n / rank
    # (ridge = 0) or the ridge term alone exceeds n (kappa < ridge).
    hi = (float(eta.sum()) + n * ridge) / n
    lo = max(
        0.5 * float(eta[eta > 0].min()) * (rank - n) / n if rank > n else 0.0,
        0.5 * ridge,
    )
    return math.exp(brentq(excess, math.log(lo), math.log(hi), xtol=1e-13))


def predicted_error(
    eigenvalues: object, powers: object, sizes: object, *, ridge: float = 0.0, noise: float = 0.0
) -> torch.Tensor:
    """The self-consistent learning curve: the expected test error of kernel regression.

    For each n in ``sizes``, with kappa = :func:`self_consistent_kappa`, the learnabilities
    L_k = eta_k / (eta_k + kappa) and gamma = (1/n) sum_k L_k^2,

    E_g(n) = (1/(1 - gamma)) sum_k (1 - L_k)^2 v_k^2 + noise gamma / (1 - gamma)

    (Canatar et al. 2021, Eq. 4, with kappa_C = n kappa so that 1 - L_k = kappa_C/(kappa_C +
    n eta_k); Simon et al. 2023's test risk minus the noise on the test labels). It is the mean
    squared error against the noise-free target, averaged over training sets of n points drawn
    independently from the population whose spectrum is (eta_k, v_k^2), in the limit of many
    modes and points.

    Parameters
    ----------
    eigenvalues, powers : array_like
        Shape (K,) each: eta_k >= 0 and v_k^2 >= 0 (:func:`target_powers`).
    sizes : array_like of int
        Shape (S,): the numbers n of training points, each >= 1.
    ridge : float, default 0.0
        As in :func:`self_consistent_kappa`.
    noise : float, default 0.0
        The variance of the label noise, >= 0.

    Returns
    -------
    torch.Tensor
        Shape (S,), float64: E_g(n) for each n.

    Raises
    ------
    ValueError
        If the spectrum is not finite and >= 0, the powers are not one per eigenvalue, a size is
        < 1 or not an integer, noise < 0, or :func:`self_consistent_kappa` refuses a size.
    """
    eta, v2 = _spectrum(eigenvalues, powers)
    noise = non_negative(noise, "noise")
    ns = [positive_int(s, "each size") for s in torch.as_tensor(sizes).reshape(-1).tolist()]
    out = []
    for n in ns:
        kappa = self_consistent_kappa(eta, n, ridge)
        learn = eta / (eta + kappa)
        gamma = float(learn.square().sum()) / n
        out.append((float(((1 - learn).square() * v2).sum()) + noise * gamma) / (1 - gamma))
    return torch.tensor(out, dtype=torch.float64)


def spectral_exponents(
    eigenvalues: object, powers: object, start: int, stop: int
) -> tuple[PowerLaw, PowerLaw]:
    """Power laws eta_k ~ k^-alpha and sum_{j>k} v_j^2 ~ k^-b, fitted for start <= k <= stop.

    The two exponents of the power-law case of the spectral theory (Spigler, Geiger & Wyart 2020;
    Bordelon et al. 2020, Sec. 5): the capacity alpha of the kernel and the decay b of the
    target's tail power. Modes are counted from 1 (the largest eigenvalue is k = 1); the tail at k
    is the power beyond the first k modes. Each is a least-squares line on a log-log scale
    (:func:`ntk_course.power_laws.power_law_fit`).

    Parameters
    ----------
    eigenvalues, powers : array_like
        Shape (K,) each, eigenvalues descending (:func:`target_powers`).
    start, stop : int
        The range of modes, 1 <= start < stop < K; the eigenvalues and tails in it must be > 0.

    Returns
    -------
    eigen_fit, tail_fit : PowerLaw
        ``-eigen_fit.slope`` is alpha, ``-tail_fit.slope`` is b.

    Raises
    ------
    ValueError
        If the spectrum is refused as in :func:`predicted_error`, the range is not inside
        1 .. K - 1, or an eigenvalue or tail in it is zero.
    """
    eta, v2 = _spectrum(eigenvalues, powers)
    start, stop = positive_int(start, "start"), positive_int(stop, "stop")
    if not start < stop < eta.numel():
        raise ValueError(
            f"need 1 <= start < stop < K = {eta.numel()} modes; got start {start}, stop {stop}"
        )
    tail = v2.flip(0).cumsum(0).flip(0)  # tail[k] = sum_{j >= k} (0-based) = power beyond k modes
    k = torch.arange(start, stop + 1, dtype=torch.float64)
    return power_law_fit(k, eta[start - 1 : stop]), power_law_fit(k, tail[start : stop + 1])


def predicted_exponent(alpha: float, b: float) -> float:
    """The exponent s of E_g ~ n^s in the power-law case: s = -min(b, 2 alpha).

    For eta_k ~ k^-alpha with alpha > 1 and a tail power ~ k^-b with b > 0, ridgeless and
    noise-free: kappa ~ n^-alpha, the unlearnt tail beyond k ~ n contributes n^-b and the
    partly learnt head n^-2alpha (Spigler et al. 2020; Bordelon et al. 2020, Sec. 5;
    Caponnetto & De Vito 2007 give rates of the same source/capacity kind for regularised
    regression).

    Raises
    ------
    ValueError
        If alpha <= 1 (kappa ~ n^-alpha needs a summable spectrum) or b <= 0.
    """
    alpha, b = float(alpha), float(b)
    if not (math.isfinite(alpha) and alpha > 1):
        raise ValueError(f"alpha must be > 1 (a trace-class kernel); got {alpha}")
    if not (math.isfinite(b) and b > 0):
        raise ValueError(f"b must be > 0 (a tail power that decays); got {b}")
    return -min(b, 2 * alpha)


def extend_power_law(
    eigenvalues: object, powers: object, start: int, stop: int, modes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The measured spectrum up to mode ``stop``, continued by its fitted power laws to ``modes``.

    A finite sample of N points sees only N modes, and its last eigenvalues are distorted; the
    learning curve at n well below N depends on the tail only through sum_k eta_k / (eta_k +
    kappa) and the tail power. This keeps eta_k and v_k^2 for k <= stop, and beyond it uses the
    fits of :func:`spectral_exponents`: eta_k = c k^-alpha and v_k^2 = T(k - 1) - T(k) with
    T(k) = c' k^-b rescaled so that the power beyond ``stop`` equals the measured one; the power
    beyond ``modes`` is put on the last mode, so sum_k v_k^2 is kept exactly.

    Parameters
    ----------
    eigenvalues, powers : array_like
        Shape (K,) each, eigenvalues descending.
    start, stop : int
        The fit range, as in :func:`spectral_exponents`.
    modes : int
        The number of modes returned, > stop.

    Returns
    -------
    eigenvalues, powers : torch.Tensor
        Shape (modes,) each, float64.

    Raises
    ------
    ValueError
        As :func:`spectral_exponents`, or if modes <= stop.
    """
    eta, v2 = _spectrum(eigenvalues, powers)
    eigen_fit, tail_fit = spectral_exponents(eta, v2, start, stop)
    modes = positive_int(modes, "modes")
    if modes <= stop:
        raise ValueError(f"modes must exceed stop = {stop}; got {modes}")
    k = torch.arange(stop + 1, modes + 1, dtype=torch.float64, device=eta.device)
    tail = tail_fit(torch.arange(stop, modes + 1, dtype=torch.float64)).to(eta.device)
    new_v2 = tail[:-1] - tail[1:]
    new_v2[-1] += tail[-1]
    new_v2 *= float(v2[stop:].sum()) / float(new_v2.sum())
    return torch.cat([eta[:stop], eigen_fit(k).to(eta.device)]), torch.cat([v2[:stop], new_v2])


def arora_gram(x: object) -> torch.Tensor:
    """H_ij = u_i.u_j (pi - arccos(u_i.u_j)) / (2 pi), u = x / norm(x): Arora et al. (2019).

    The Gram matrix of the tangent kernel of f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x) with the
    hidden weights w_r ~ N(0, I) trained and a_r = +-1 fixed, as m -> infinity, on unit-norm inputs
    (each point is normalised first). It is E_w[u_i.u_j 1{w.u_i >= 0, w.u_j >= 0}]; in the
    course's notation Sigma^(1) times Sigma-dot^(2) of ReLU at beta = 0. The angle is atan2
    (sqrt(1 - c^2), c), and the diagonal is exactly 1/2.

    Parameters
    ----------
    x : array_like
        Shape (N, d): the points, none zero.

    Returns
    -------
    torch.Tensor
        Shape (N, N), float64, symmetric.

    Raises
    ------
    ValueError
        If ``x`` is not a finite (N, d) array or has a zero row.
    """
    u = as_inputs(x, "x", dtype=torch.float64)
    norms = u.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("x has a zero row; arora_gram needs non-zero points (it normalises them)")
    u = u / norms
    c = (u @ u.mT).clamp(-1.0, 1.0)
    c = (c + c.mT) / 2
    c.fill_diagonal_(1.0)
    angle = torch.atan2((1 - c.square()).clamp_min(0).sqrt(), c)
    return c * (math.pi - angle) / (2 * math.pi)


def arora_bound(k_train: object, y: object) -> float:
    """The data-dependent complexity sqrt(2 y^T H^-1 y / N) of Arora et al. (2019), Theorem 5.1.

    For a two-layer ReLU network trained by gradient descent from a small initialisation, with H
    the Gram matrix of :func:`arora_gram` (smallest eigenvalue lambda_0 > 0) and labels in [-1, 1],
    the population loss of any 1-Lipschitz loss bounded in [0, 1] with loss(y, y) = 0 is at most
    this quantity plus O(sqrt(log(N / (lambda_0 delta)) / N)), with probability 1 - delta over the
    N samples. y^T H^-1 y is the squared RKHS norm of the kernel interpolant; it is computed with
    one Cholesky factor (no inverse).

    Parameters
    ----------
    k_train : array_like
        Shape (N, N): H on the training points, symmetric positive definite.
    y : array_like
        Shape (N,): the labels.

    Returns
    -------
    float
        sqrt(2 y^T H^-1 y / N).

    Raises
    ------
    ValueError
        If ``k_train`` is not a finite symmetric matrix, ``y`` not a finite vector of N entries,
        or H is not numerically positive definite.
    """
    h = kernel_matrix(k_train, "k_train", symmetric=True)
    n = h.shape[0]
    target = finite_array(y, "y", ndims=(1,), rows=n, match="k_train's N points", device=h.device)
    chol, info = torch.linalg.cholesky_ex(h)
    d = chol.diagonal()
    if int(info) != 0 or float((d.min() / d.max()) ** 2) < n * torch.finfo(h.dtype).eps:
        raise ValueError(
            "k_train must be positive definite (lambda_0 > 0 in Arora et al.'s theorem); "
            "it is singular or indefinite"
        )
    z = torch.linalg.solve_triangular(chol, target[:, None], upper=False)
    return math.sqrt(2 * float(z.square().sum()) / n)
