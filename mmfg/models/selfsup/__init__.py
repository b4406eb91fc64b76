from .birdsat import (CVEMAE, CVMMAE, BirdSATViT, CVMMAEViT,  # noqa: F401
                      MetaEmbedding, gather_meta, pair_matching_batch)
from .cmd import CMD, split_tokens  # noqa: F401
