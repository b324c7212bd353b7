"""Run Command and maintenance window targets (`InstanceIds`, `tag:<key>`, `tag-key`) against the fleet."""

from __future__ import annotations

from typing import Any

from .errors import SsmError
from .host import Host

TARGET_KEYS = ("InstanceIds", "tag:<key>", "tag-key")


def resolve_targets(hosts: list[Host], targets: list[dict[str, Any]]) -> list[Host]:
    """The hosts every target matches (targets AND together), in fleet order."""
    for target in targets:
        key, values = target.get("Key", ""), target.get("Values", [])
        if key == "InstanceIds":
            hosts = [h for h in hosts if "*" in values or h.id in values]
        elif key.startswith("tag:"):
            hosts = [h for h in hosts if h.tags.get(key[4:]) in values]
        elif key == "tag-key":
            hosts = [h for h in hosts if any(v in h.tags for v in values)]
        else:
            raise SsmError("InvalidTarget", f"Target key {key} is not supported by livesim.")
    return hosts


def check_target_keys(targets: list[dict[str, Any]]) -> None:
    """Reject what `resolve_targets` cannot resolve up front, when the targets are registered."""
    for target in targets:
        key = target.get("Key", "")
        if key != "InstanceIds" and key != "tag-key" and not (key.startswith("tag:") and len(key) > 4):
            raise SsmError(
                "ValidationException",
                f"Target key {key} is not supported by livesim (use {', '.join(TARGET_KEYS)}).",
            )
