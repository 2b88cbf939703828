from .cross_entropy_loss import CrossEntropyLoss

__all__ = ['CrossEntropyLoss']
