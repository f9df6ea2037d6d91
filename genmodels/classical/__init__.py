"""Classical densities with the zoo's interface: fit in seconds, exact likelihood, baselines."""

from genmodels.classical.gmm import GMM
from genmodels.classical.kde import KDE
from genmodels.classical.ppca import PPCA

__all__ = ["GMM", "KDE", "PPCA"]
