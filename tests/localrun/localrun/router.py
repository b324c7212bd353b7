"""Routes events to functions by the event patterns in template.yaml (the deployed wiring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .template import Template, resolve

#: `AWS::AccountId` without a deployment: the account of the samples in events/ (stack.ACCOUNT).
LOCAL_ACCOUNT = "123456789012"


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


@dataclass(frozen=True)
class Route:
    binary: str
    #: The SQS queue (logical id) between the rule and the function, if any.
    queue: str | None = None


def routes(template: Template, event: dict, refs: dict[str, str] | None = None) -> list[Route]:
    """Where `event` goes: functions whose own EventBridge-rule events match it, and functions that
    consume a queue that a matching `AWS::Events::Rule` targets. Patterns may name template values
    (`!Ref KernelFactsDocument`): they are resolved with `refs` from a deployment, or else with the
    parameters' defaults and the resources' fixed names."""
    refs = static_refs(template) if refs is None else refs
    found = []
    for function in template.functions():
        for spec in function.events.values():
            if spec.get("Type") in ("EventBridgeRule", "CloudWatchEvent") and matches(
                _resolved(spec.get("Properties", {}).get("Pattern", {}), refs), event
            ):
                found.append(Route(function.binary))
                break
    for rule in template.of_type("AWS::Events::Rule").values():
        props = rule.get("Properties", {})
        pattern = _resolved(props.get("EventPattern", {}), refs)
        if props.get("State", "ENABLED") != "ENABLED" or not matches(pattern, event):
            continue
        for target in props.get("Targets", []):
            queue = _getatt_arn(target.get("Arn"))
            for binary in _queue_consumers(template, queue):
                found.append(Route(binary, queue))
    return found


def static_refs(template: Template) -> dict[str, str]:
    """What a `Ref` resolves to without deploying: parameter defaults and fixed resource names."""
    refs = {name: str(value) for name, value in template.parameter_defaults().items()}
    # The account the samples in events/ come from, as a deployment resolves `AWS::AccountId`.
    refs["AWS::AccountId"] = LOCAL_ACCOUNT
    for logical_id, resource in template.body.get("Resources", {}).items():
        name = resource.get("Properties", {}).get("Name")
        if isinstance(name, str):
            refs[logical_id] = name
    return refs


def _resolved(pattern: Any, refs: dict[str, str]) -> Any:
    try:
        return resolve(pattern, refs)
    except KeyError as err:
        raise ValueError(f"event pattern {pattern} names a value with no local resolution: {err}") from err


def _getatt_arn(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
        return value["Fn::GetAtt"][0]
    return None


def _queue_consumers(template: Template, queue: str | None) -> list[str]:
    if queue is None:
        return []
    return [
        f.binary
        for f in template.functions()
        for spec in f.events.values()
        if spec.get("Type") == "SQS" and _getatt_arn(spec.get("Properties", {}).get("Queue")) == queue
    ]


def queue_batch_size(template: Template, binary: str, queue: str) -> int:
    for spec in template.function(binary).events.values():
        props = spec.get("Properties", {})
        if spec.get("Type") == "SQS" and _getatt_arn(props.get("Queue")) == queue:
            return int(props.get("BatchSize", 10))
    raise KeyError(f"{binary} does not consume {queue}")


def scheduled(template: Template) -> list[tuple[str, str]]:
    """(binary, schedule expression) for every schedule in the template."""
    out = []
    for function in template.functions():
        for spec in function.events.values():
            if spec.get("Type") in ("Schedule", "ScheduleV2"):
                out.append(
                    (
                        function.binary,
                        spec.get("Properties", {}).get("Schedule")
                        or spec.get("Properties", {}).get("ScheduleExpression"),
                    )
                )
    return out
