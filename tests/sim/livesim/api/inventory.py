"""PutInventory, ListInventoryEntries and GetInventory over the simulation's inventory store."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, EmptyResult

from ..errors import SsmError, validation_error
from ..host import Host
from ..inventory import InventoryItem, matches, value_test
from ..timeutil import iso_seconds
from .base import SimulatedOperations
from .instances import resource_type
from .pagination import max_results, page

INSTANCE_INFORMATION = "AWS:InstanceInformation"


class InventoryOperations(SimulatedOperations):
    def put_inventory(self) -> ActionResult:
        instance_id = self._get_param("InstanceId")
        items = self.param("Items", [])
        if not 1 <= len(items) <= 30:
            raise validation_error("items", len(items), "Member must have length between 1 and 30")
        host = self.fleet_host(instance_id)
        if host is None or not host.managed:
            raise SsmError("InvalidInstanceId", f"Instance {instance_id} is not a valid managed instance.")
        self.sim.put_inventory(host.id, items)
        return EmptyResult()

    def list_inventory_entries(self) -> ActionResult:
        instance_id, type_name = self._get_param("InstanceId"), self._get_param("TypeName")
        limit = max_results(self._get_param("MaxResults"), 50, 1, 50)
        with self.sim.lock:
            host = self.fleet_host(instance_id)
            if host is None or not host.managed:
                raise SsmError(
                    "InvalidInstanceId", f"Instance {instance_id} is not a valid managed instance."
                )
            item = self._items(host).get(type_name)
        result: dict[str, Any] = {"TypeName": type_name, "InstanceId": instance_id, "Entries": []}
        if item is not None:
            entries = [e for e in item.content if _entry_matches(e, self.param("Filters", []))]
            selected, token = page(entries, self._get_param("NextToken"), limit)
            result.update(SchemaVersion=item.schema_version, CaptureTime=item.capture_time, Entries=selected)
            if token:
                result["NextToken"] = token
        return ActionResult(result)

    def get_inventory(self) -> ActionResult:
        if self._get_param("Aggregators"):
            raise SsmError(
                "UnsupportedFeatureRequiredException", "livesim does not simulate inventory aggregators."
            )
        filters = self.param("Filters", [])
        wanted = [a["TypeName"] for a in self.param("ResultAttributes", [])] or [INSTANCE_INFORMATION]
        limit = max_results(self._get_param("MaxResults"), 50, 1, 50)
        with self.sim.lock:
            hosts = [h for h in self.sim.hosts if h.managed] if self.serves_fleet else []
            entities = []
            for host in hosts:
                items = self._items(host)
                if not matches(items, filters):
                    continue
                data = {name: items[name].to_result_item() for name in wanted if name in items}
                if data:
                    entities.append({"Id": host.id, "Data": data})
        selected, token = page(entities, self._get_param("NextToken"), limit)
        result: dict[str, Any] = {"Entities": selected}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def _items(self, host: Host) -> dict[str, InventoryItem]:
        """Stored items plus AWS:InstanceInformation, which SSM keeps for every managed instance."""
        items = dict(self.sim.inventory.get(host.id, {}))
        items[INSTANCE_INFORMATION] = _instance_information(host, self.sim.now)
        return items


def _instance_information(host: Host, now: Any) -> InventoryItem:
    if host.state != "running":
        status = "Stopped"
    else:
        status = "Active" if host.agent == "Online" else "ConnectionLost"
    content = {
        "AgentType": "amazon-ssm-agent",
        "AgentVersion": host.agent_version,
        "ComputerName": host.computer_name,
        "InstanceId": host.id,
        "InstanceStatus": status,
        "IpAddress": host.ip_address,
        "PlatformName": host.platform.name,
        "PlatformType": "Linux",
        "PlatformVersion": host.platform.version,
        "ResourceType": resource_type(host),
    }
    return InventoryItem(INSTANCE_INFORMATION, "1.0", iso_seconds(host.last_ping or now), (content,))


def _entry_matches(entry: dict[str, str], filters: list[dict[str, Any]]) -> bool:
    return all(
        value_test(
            [entry[f["Key"]]] if f["Key"] in entry else [], f.get("Type", "Equal"), f.get("Values", [])
        )
        for f in filters
    )
