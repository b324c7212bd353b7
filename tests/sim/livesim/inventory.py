"""Inventory as SSM stores it: per instance, one item per type, entries of string maps."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import SsmError, validation_error

CAPTURE_TIME = re.compile(r"^(20)\d\d-(0[1-9]|1[012])-([12]\d|3[01]|0[1-9])T(2[0-3]|[01]\d)(:[0-5]\d){2}Z$")
TYPE_NAME = re.compile(r"^(AWS|Custom):[a-zA-Z0-9_\-:]{1,90}$")


@dataclass(frozen=True)
class InventoryItem:
    type_name: str
    schema_version: str
    capture_time: str
    content: tuple[dict[str, str], ...]

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.content, sort_keys=True).encode()).hexdigest()

    def to_result_item(self) -> dict[str, Any]:
        return {
            "TypeName": self.type_name,
            "SchemaVersion": self.schema_version,
            "CaptureTime": self.capture_time,
            "ContentHash": self.content_hash,
            "Content": [dict(entry) for entry in self.content],
        }


def parse_item(raw: dict[str, Any]) -> InventoryItem:
    """One PutInventory item, validated as SSM does."""
    type_name = raw.get("TypeName", "")
    if not TYPE_NAME.match(type_name):
        raise SsmError("InvalidTypeNameException", f"The type name {type_name} is not valid.")
    if type_name.startswith("AWS:"):
        raise SsmError(
            "InvalidItemContentException", f"{type_name} is reserved for inventory collected by SSM Agent."
        )
    capture_time = raw.get("CaptureTime", "")
    if not CAPTURE_TIME.match(capture_time):
        raise validation_error(
            "captureTime",
            capture_time,
            "Member must satisfy regular expression pattern: " + CAPTURE_TIME.pattern,
        )
    content = raw.get("Content", [])
    for entry in content:
        if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
            raise SsmError("InvalidItemContentException", "Inventory item content values must be strings.")
    return InventoryItem(
        type_name, raw.get("SchemaVersion", "1.0"), capture_time, tuple(dict(e) for e in content)
    )


def matches(items: dict[str, InventoryItem], filters: list[dict[str, Any]]) -> bool:
    """GetInventory's filters: `TypeName.Attribute` against any entry of that type."""
    for inventory_filter in filters:
        type_name, _, attribute = inventory_filter["Key"].rpartition(".")
        item = items.get(type_name)
        present = [entry[attribute] for entry in item.content if attribute in entry] if item else []
        if not value_test(present, inventory_filter.get("Type", "Equal"), inventory_filter.get("Values", [])):
            return False
    return True


def value_test(present: list[str], operator: str, values: list[str]) -> bool:
    """One inventory filter against the values an entity (or entry) has for the attribute."""
    if operator == "Exists":
        return bool(present)
    if operator == "NotEqual":
        return all(v not in present for v in values)
    tests = {
        "Equal": lambda v: v in present,
        "BeginWith": lambda v: any(x.startswith(v) for x in present),
        "LessThan": lambda v: any(_number(x) < _number(v) for x in present),
        "GreaterThan": lambda v: any(_number(x) > _number(v) for x in present),
    }
    if operator not in tests:
        raise SsmError("InvalidFilter", f"Filter type {operator} is not supported.")
    return any(tests[operator](v) for v in values)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")
