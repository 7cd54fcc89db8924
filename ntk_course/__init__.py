"""ntk_course: the Neural Tangent Kernel of Jacot, Gabriel & Hongler (NeurIPS 2018) in PyTorch.

The public names below cover the paper: the limiting kernels (Prop. 1, Thm. 1), finite networks
in the NTK parametrisation and their empirical NTK (Sec. 2, 4), training (Thm. 2), the kernel
gradient flow and its t -> infinity Gaussian (Sec. 3, 5), kernel PCA (Sec. 5, 6.3), the kernels'
eigenvalues on the circle and the sphere (Funk-Hecke), Hermite expansions (App. A.4), the
random-features model (Sec. 3.1), kernel regression and classification (the t -> infinity limit of
Sec. 5) and the data of Section 6.

Two subpackages build on the library and are never imported by it: ``ntk_course.chapters`` (what
the book's chapters run) and ``ntk_course.assignments`` (the assignments and their checks).
"""

from .activations import ACTIVATIONS, Activation, get_activation, polynomial
from .architecture import Architecture
from .blocked import BlockedKernel
from .cg import CGWarning, conjugate_gradient
from .cnn import NTKCNN
from .config import by_scale, default_device, scale
from .conv import conv_kernels
from .conv_architecture import ConvArchitecture
from .datasets import (
    circle_points,
    circle_training_set,
    gaussian_inputs,
    product_target,
    sphere_points,
)
from .digits import load_mnist_idx, mnist, mnist_split
from .empirical import empirical_ntk
from .flow import FlowResult, gradient_descent, gradient_flow
from .gaussian import gaussian_limit, percentiles
from .harmonics import (
    aliased_eigenvalues,
    circle_eigenvalues,
    circulant_eigenvalues,
    harmonic_multiplicity,
    sphere_eigenvalues,
    sphere_legendre,
)
from .hermite import (
    dual_activation,
    hermite_coefficients,
    min_eigenvalue_on_sphere,
    sigma2_power_series,
)
from .kernels import limiting_kernels, nngp, ntk
from .krylov import KrylovWarning, krylov_flow
from .layers import LayerKernels, layer_kernels
from .linearized import Centred, Linearized, linearized_outputs
from .memory import KernelMemoryError, available_bytes, kernel_bytes
from .mlp import NTKMLP
from .numerical_flow import kernel_flow
from .power_laws import (
    PowerLaw,
    bootstrap_slope,
    check_windows,
    power_law_errors,
    power_law_fit,
)
from .random_features import RandomFeatures
from .regression import (
    accuracy,
    accuracy_difference,
    accuracy_standard_error,
    kernel_regression,
    nested_kernel_regression,
    one_hot_targets,
)
from .sampling import monte_carlo_covariance, sample_layerwise, sample_outputs
from .spectral import (
    KernelPCA,
    decompose_along,
    kernel_pca,
    max_stable_learning_rate,
    pin_norm,
    rate_along,
)
from .training import TrainingRecord, train

__version__ = "0.4.0.dev0"  # the one version source: pyproject.toml reads it, see CHANGELOG.md

__all__ = [
    "sample_outputs",
    "sample_layerwise",
    "monte_carlo_covariance",
    "PowerLaw",
    "power_law_fit",
    "power_law_errors",
    "check_windows",
    "max_stable_learning_rate",
    "Centred",
    "bootstrap_slope",
    "accuracy",
    "available_bytes",
    "BlockedKernel",
    "CGWarning",
    "conjugate_gradient",
    "krylov_flow",
    "KrylovWarning",
    "kernel_bytes",
    "KernelMemoryError",
    "accuracy_difference",
    "accuracy_standard_error",
    "Activation",
    "ACTIVATIONS",
    "Architecture",
    "ConvArchitecture",
    "conv_kernels",
    "NTKCNN",
    "aliased_eigenvalues",
    "by_scale",
    "circle_eigenvalues",
    "circle_points",
    "circle_training_set",
    "circulant_eigenvalues",
    "decompose_along",
    "default_device",
    "dual_activation",
    "empirical_ntk",
    "FlowResult",
    "gaussian_inputs",
    "gaussian_limit",
    "get_activation",
    "gradient_descent",
    "gradient_flow",
    "harmonic_multiplicity",
    "hermite_coefficients",
    "kernel_flow",
    "kernel_pca",
    "kernel_regression",
    "KernelPCA",
    "layer_kernels",
    "LayerKernels",
    "limiting_kernels",
    "Linearized",
    "linearized_outputs",
    "load_mnist_idx",
    "min_eigenvalue_on_sphere",
    "mnist",
    "mnist_split",
    "nested_kernel_regression",
    "nngp",
    "ntk",
    "NTKMLP",
    "one_hot_targets",
    "percentiles",
    "pin_norm",
    "rate_along",
    "polynomial",
    "product_target",
    "RandomFeatures",
    "scale",
    "sigma2_power_series",
    "sphere_eigenvalues",
    "sphere_legendre",
    "sphere_points",
    "train",
    "TrainingRecord",
]
