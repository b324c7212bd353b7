"""Routes events to functions by the event patterns in template.yaml (the deployed wiring)."""

from __future__ import annotations

from typing import Any

from .template import Template


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge pattern matching for the forms the template uses: value lists, nested objects,
    `prefix`, `anything-but`, `exists`. Matching is case-sensitive, as in EventBridge."""
    if isinstance(pattern, dict):
        if not isinstance(event, dict):
            return False
        return all(_field_matches(rule, key in event, event.get(key)) for key, rule in pattern.items())
    return False


def _field_matches(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, dict):
        return present and matches(rule, value)
    for option in rule:
        if isinstance(option, dict):
            if "exists" in option and option["exists"] == present:
                return True
            if not present:
                continue
            if "prefix" in option and isinstance(value, str) and value.startswith(option["prefix"]):
                return True
            if "anything-but" in option:
                excluded = option["anything-but"]
                excluded = excluded if isinstance(excluded, list) else [excluded]
                if value not in excluded:
                    return True
        elif present and (value == option or (isinstance(value, list) and option in value)):
            return True
    return False


def subscribers(template: Template, event: dict) -> list[str]:
    """Binaries whose EventBridge-rule events in the template match `event`."""
    found = []
    for function in template.functions():
        for spec in function.events.values():
            if spec.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                if matches(spec.get("Properties", {}).get("Pattern", {}), event):
                    found.append(function.binary)
                    break
    return found


def scheduled(template: Template) -> list[tuple[str, str]]:
    """(binary, schedule expression) for every schedule in the template."""
    out = []
    for function in template.functions():
        for spec in function.events.values():
            if spec.get("Type") in ("Schedule", "ScheduleV2"):
                out.append((function.binary, spec.get("Properties", {}).get("Schedule")
                            or spec.get("Properties", {}).get("ScheduleExpression")))
    return out
