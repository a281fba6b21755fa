"""Customer-base models in NumPy/SciPy. No I/O, no database, no web.

Fitters share one maximum-likelihood base (``winback.models.base``): parameters, standard
errors, log-likelihood, AIC/BIC and a summary table after ``fit``.
"""

from winback.models.bgbb import BetaGeoBetaBinomModel, sample_bgbb
from winback.models.bgnbd import BetaGeoModel, sample_bgnbd
from winback.models.gamma_gamma import GammaGammaModel, sample_gamma_gamma
from winback.models.mbgnbd import ModifiedBetaGeoModel, sample_mbgnbd
from winback.models.paretonbd import ParetoNBDModel, sample_paretonbd
from winback.models.sbg import ShiftedBetaGeometricModel, sample_sbg_survivors
from winback.models.value import customer_lifetime_value

__all__ = [
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "ShiftedBetaGeometricModel",
    "customer_lifetime_value",
    "sample_bgbb",
    "sample_bgnbd",
    "sample_gamma_gamma",
    "sample_mbgnbd",
    "sample_paretonbd",
    "sample_sbg_survivors",
]
