"""The other legal spellings of a proto3 JSON document, for tests that a reader takes both:
``snake_case`` turns every field name into its proto (snake_case) name, the way sigstore-python's
trust configs and some clients write them."""

from __future__ import annotations

import re
from typing import Any

_UPPER = re.compile(r"([A-Z])")


def snake_case(value: Any) -> Any:
    """``value`` with every object key in snake_case (``logIndex`` -> ``log_index``,
    ``hashedRekordRequestV002`` -> ``hashed_rekord_request_v002``), at every depth."""
    if isinstance(value, dict):
        return {_UPPER.sub(lambda m: "_" + m.group(1).lower(), k): snake_case(v)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [snake_case(v) for v in value]
    return value
