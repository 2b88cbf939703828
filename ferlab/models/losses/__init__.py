from .affinity_loss import AffinityLoss  # noqa: F401
from .arbex_losses import AnchorCenterLoss, AnchorLoss, DistributionNLLLoss  # noqa: F401
from .au_losses import MaskedBCEWithLogitsLoss  # noqa: F401
from .center_loss import CenterLoss  # noqa: F401
from .cross_entropy_loss import CrossEntropyLoss
from .mvt_losses import MaskAreaLoss, ProbVarianceLoss
from .partition_loss import PartitionLoss  # noqa: F401
from .wing_loss import LandmarkL1Loss, WingLoss  # noqa: F401

__all__ = ['CrossEntropyLoss', 'MaskAreaLoss', 'ProbVarianceLoss']
