"""DescribeInstancePatchStates and DescribeInstancePatches, from what the last Scan/Install reported."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult

from ..errors import SsmError, validation_error
from ..patchstate import PatchRecord, canonical_state
from .base import SimulatedOperations
from .pagination import max_results, page

PATCH_FILTER_KEYS = ("State", "Classification", "Severity", "KBId")


class PatchStateOperations(SimulatedOperations):
    def describe_instance_patch_states(self) -> ActionResult:
        instance_ids = self.param("InstanceIds", [])
        if len(instance_ids) > 50:
            raise validation_error(
                "instanceIds", instance_ids, "Member must have length less than or equal to 50"
            )
        limit = max_results(self._get_param("MaxResults"), 50, 10, 100)
        with self.sim.lock:
            hosts = [self.fleet_host(i) for i in dict.fromkeys(instance_ids)]
            states = [
                h.patch_state.summary(h.id) for h in hosts if h is not None and h.patch_state is not None
            ]
        selected, token = page(states, self._get_param("NextToken"), limit)
        result: dict[str, Any] = {"InstancePatchStates": selected}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def describe_instance_patches(self) -> ActionResult:
        instance_id = self._get_param("InstanceId")
        filters = self.param("Filters", [])
        limit = max_results(self._get_param("MaxResults"), 10, 10, 100)
        with self.sim.lock:
            host = self.fleet_host(instance_id)
            if host is None or not host.managed:
                raise SsmError(
                    "InvalidInstanceId", f"Instance {instance_id} is not a valid managed instance."
                )
            records = host.patch_state.patches if host.patch_state else []
            records = [r for r in records if all(_patch_matches(r, f) for f in filters)]
            spelling = self.sim.fleet.state_spelling
            selected, token = page(records, self._get_param("NextToken"), limit)
            result: dict[str, Any] = {"Patches": [r.to_api(spelling) for r in selected]}
        if token:
            result["NextToken"] = token
        return ActionResult(result)


def _patch_matches(record: PatchRecord, patch_filter: dict[str, Any]) -> bool:
    key, values = patch_filter.get("Key"), patch_filter.get("Values", [])
    if key not in PATCH_FILTER_KEYS:
        raise SsmError(
            "InvalidFilter", f"The filter key {key} is not valid. Use one of {', '.join(PATCH_FILTER_KEYS)}."
        )
    if key == "State":
        try:
            return record.state in {canonical_state(v) for v in values}
        except ValueError as err:
            raise SsmError("InvalidFilter", f"{err} is not a valid patch state.") from None
    actual = {"Classification": record.classification, "Severity": record.severity, "KBId": record.kb_id}[key]
    return actual in values
