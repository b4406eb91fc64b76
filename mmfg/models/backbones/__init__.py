from .inception_v3_wsol import InceptionV3WSOL
from .metaformer import MetaFormer
from .mobilenet_v1 import MobileNetV1

__all__ = ['MetaFormer', 'InceptionV3WSOL', 'MobileNetV1']
