from .mgn_optim_wrapper_constructor import MGNOptimWrapperConstructor

__all__ = ['MGNOptimWrapperConstructor']
