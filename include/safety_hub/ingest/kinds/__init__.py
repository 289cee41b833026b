"""Delivery kinds, one module each: ``rest_api``, ``file_drop``, ``sql_extract``.

A new kind is a module here (extractor, parser choice, lineage facet, task policy and hooks:
``base.DeliveryKind``; ending in ``register(...)``), its import below, and its delivery model
(the ``kind`` literal) in ``config/registry.py``.
"""

from safety_hub.ingest.kinds import file_drop, rest_api, sql_extract  # noqa: F401  (each registers itself)
from safety_hub.ingest.kinds.base import KINDS, DeliveryKind, Wait, get_kind, kind_of, register  # noqa: F401
