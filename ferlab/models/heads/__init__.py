from .cls_head import ClsHead, LinearClsHead

__all__ = ['ClsHead', 'LinearClsHead']
