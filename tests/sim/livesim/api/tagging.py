"""Resource Groups Tagging API GetResources for the fleet's EC2 instances (moto's for the rest)."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.resourcegroupstaggingapi.responses import ResourceGroupsTaggingAPIResponse

from ..errors import SsmError
from ..host import Host
from ..simulation import Simulation
from .pagination import page

#: ResourceTypeFilters values that select EC2 instances.
INSTANCE_TYPE_FILTERS = {"ec2", "ec2:instance"}


class FleetTaggingResponse(ResourceGroupsTaggingAPIResponse):
    """`simulation` is bound by `api.install`."""

    simulation: Simulation

    def get_resources(self) -> ActionResult:
        type_filters = self._get_param("ResourceTypeFilters", []) or []
        fleet_asked = bool(type_filters) and set(type_filters) <= INSTANCE_TYPE_FILTERS
        if not fleet_asked or self._get_param("ResourceARNList"):
            return super().get_resources()
        per_page = self._get_param("ResourcesPerPage")
        per_page = 50 if per_page is None else per_page
        if not isinstance(per_page, int) or not 1 <= per_page <= 100:
            raise SsmError("InvalidParameterException", "ResourcesPerPage must be between 1 and 100")
        tag_filters = self._get_param("TagFilters", []) or []
        if len(tag_filters) > 50:
            raise SsmError("InvalidParameterException", "TagFilters can have at most 50 entries")
        for tag_filter in tag_filters:
            if not tag_filter.get("Key"):
                raise SsmError("InvalidParameterException", "TagFilters need a Key")
        sim = self.simulation
        with sim.lock:
            hosts = self._fleet_instances()
            hosts = [h for h in hosts if all(_matches(h, f) for f in tag_filters)]
            try:
                selected, token = page(hosts, self._get_param("PaginationToken") or None, per_page)
            except SsmError:
                raise SsmError(
                    "PaginationTokenExpiredException", "The specified pagination token is not valid."
                ) from None
            mappings = [
                {
                    "ResourceARN": h.arn(sim.fleet.region, sim.fleet.account),
                    "Tags": [{"Key": k, "Value": v} for k, v in h.tags.items()],
                }
                for h in selected
            ]
        # AWS ends the listing with an empty token, not a missing one.
        return ActionResult({"ResourceTagMappingList": mappings, "PaginationToken": token or ""})

    def _fleet_instances(self) -> list[Host]:
        """EC2 instances of the caller's account and region that carry a tag, managed by SSM or not."""
        if not self.simulation.serves(self.current_account, self.region):
            return []
        return [h for h in self.simulation.hosts if not h.is_managed_instance and h.tags]


def _matches(host: Host, tag_filter: dict[str, Any]) -> bool:
    value = host.tags.get(tag_filter["Key"])
    if value is None:
        return False
    values = tag_filter.get("Values") or []
    return not values or value in values
