"""AWS errors the simulated SSM answers with (serialized by moto as `{"__type": code, "message": ...}`)."""

from __future__ import annotations

from moto.core.exceptions import ServiceException


class SsmError(ServiceException):
    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def validation_error(field: str, value: object, constraint: str) -> SsmError:
    """The wording AWS uses for a request that breaks the API model's constraints."""
    return SsmError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field}' "
        f"failed to satisfy constraint: {constraint}",
    )
