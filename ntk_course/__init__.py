"""ntk_course: the Neural Tangent Kernel of Jacot, Gabriel & Hongler (NeurIPS 2018) in PyTorch."""
from .activations import ACTIVATIONS, Activation, get_activation, polynomial
from .config import by_scale, default_device, scale
from .kernels import kernels, nngp, ntk

__version__ = "0.1.0"
