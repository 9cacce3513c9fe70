"""sales-ability: estimate a candidate's sales potential from a self-introduction video.

The stages, in the order a video flows through them:
``datasets`` -> ``featurize`` -> ``model`` -> ``knowledge_base`` -> ``scoring``.
"""

from sales_ability.traits import TRAITS

__all__ = ["TRAITS"]
__version__ = "0.1.0"
