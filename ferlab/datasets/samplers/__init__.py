from .class_balanced import ClassBalancedSampler
from .data_refinement import DataRefinementSampler
from .ratio_batch_sampler import RatioBatchSampler

__all__ = ['ClassBalancedSampler', 'DataRefinementSampler', 'RatioBatchSampler']
