"""NextToken/MaxResults paging with opaque tokens, as SSM list operations do."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from ..errors import SsmError, validation_error

T = TypeVar("T")
_PREFIX = "livesim:"


def max_results(value: Any, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or value < low:
        raise validation_error("maxResults", value, f"Member must have value greater than or equal to {low}")
    if value > high:
        raise validation_error("maxResults", value, f"Member must have value less than or equal to {high}")
    return value


def page(items: list[T], next_token: str | None, limit: int) -> tuple[list[T], str | None]:
    start = _decode(next_token) if next_token else 0
    end = start + limit
    token = _encode(end) if end < len(items) else None
    return items[start:end], token


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode()


def _decode(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if text.startswith(_PREFIX):
            return int(text[len(_PREFIX) :])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise SsmError("InvalidNextToken", "The specified token isn't valid.")
