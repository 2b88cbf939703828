from .class_balanced import ClassBalancedSampler
from .data_refinement import DataRefinementSampler

__all__ = ['ClassBalancedSampler', 'DataRefinementSampler']
