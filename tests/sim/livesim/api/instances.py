"""DescribeInstanceInformation and the tags of managed instances."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, EmptyResult

from ..errors import SsmError
from ..host import Host
from .base import SimulatedOperations
from .pagination import max_results, page

LEGACY_FILTER_KEYS = (
    "InstanceIds",
    "AgentVersion",
    "PingStatus",
    "PlatformTypes",
    "ActivationIds",
    "IamRole",
    "ResourceType",
    "AssociationStatus",
)


def resource_type(host: Host) -> str:
    return "ManagedInstance" if host.is_managed_instance else "EC2Instance"


def _attribute(host: Host, key: str) -> list[str] | None:
    """The values a DescribeInstanceInformation filter key compares with; None for an unknown key."""
    if key.startswith("tag:"):
        tag = host.tags.get(key[4:])
        return [] if tag is None else [tag]
    values = {
        "InstanceIds": [host.id],
        "SourceIds": [host.id],
        "AgentVersion": [host.agent_version],
        "PingStatus": [host.agent],
        "PlatformTypes": ["Linux"],
        "ResourceType": [resource_type(host)],
        "SourceTypes": ["AWS::SSM::ManagedInstance" if host.is_managed_instance else "AWS::EC2::Instance"],
        "IamRole": [host.iam_role],
        "ActivationIds": [_activation_id(host)] if host.is_managed_instance else [],
        "AssociationStatus": [],
        "tag-key": list(host.tags),
    }
    return values.get(key)


def _activation_id(host: Host) -> str:
    digits = host.id[3:].ljust(32, "0")
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:32]}"


class InstanceOperations(SimulatedOperations):
    def describe_instance_information(self) -> ActionResult:
        filters = [(f["Key"], f["Values"]) for f in self.param("Filters", [])]
        for legacy in self.param("InstanceInformationFilterList", []):
            if legacy["key"] not in LEGACY_FILTER_KEYS:
                raise SsmError(
                    "InvalidInstanceInformationFilterValue", f"{legacy['key']} is not a valid filter key."
                )
            filters.append((legacy["key"], legacy["valueSet"]))
        limit = max_results(self._get_param("MaxResults"), 10, 5, 50)
        with self.sim.lock:
            hosts = [h for h in self.sim.hosts if h.visible_to_ssm] if self.serves_fleet else []
            for key, values in filters:
                hosts = [h for h in hosts if _matches(h, key, values)]
            selected, token = page(hosts, self._get_param("NextToken"), limit)
            result = {"InstanceInformationList": [self._information(h) for h in selected]}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def _information(self, host: Host) -> dict[str, Any]:
        info: dict[str, Any] = {
            "InstanceId": host.id,
            "PingStatus": host.agent,
            "LastPingDateTime": host.last_ping or self.sim.now,
            "AgentVersion": host.agent_version,
            "IsLatestVersion": False,
            "PlatformType": "Linux",
            "PlatformName": host.platform.name,
            "PlatformVersion": host.platform.version,
            "ResourceType": resource_type(host),
            "IPAddress": host.ip_address,
            "ComputerName": host.computer_name,
            "SourceId": host.id,
            "SourceType": _attribute(host, "SourceTypes")[0],  # type: ignore[index]
        }
        if host.is_managed_instance:
            info.update(
                Name=host.name,
                ActivationId=_activation_id(host),
                IamRole=host.iam_role,
                RegistrationDate=host.registered,
            )
        return info

    # -- tags -------------------------------------------------------------------------
    def list_tags_for_resource(self) -> ActionResult:
        host = self._tagged_instance()
        if host is None:
            return super().list_tags_for_resource()
        with self.sim.lock:
            tags = [{"Key": k, "Value": v} for k, v in host.tags.items()]
        return ActionResult({"TagList": tags})

    def add_tags_to_resource(self) -> ActionResult:
        host = self._tagged_instance()
        if host is None:
            return super().add_tags_to_resource()
        with self.sim.lock:
            host.tags.update({t["Key"]: t["Value"] for t in self.param("Tags", [])})
        return EmptyResult()

    def remove_tags_from_resource(self) -> ActionResult:
        host = self._tagged_instance()
        if host is None:
            return super().remove_tags_from_resource()
        with self.sim.lock:
            for key in self.param("TagKeys", []):
                host.tags.pop(key, None)
        return EmptyResult()

    def _tagged_instance(self) -> Host | None:
        """A fleet instance addressed as ResourceType ManagedInstance: hybrid `mi-` ids only.

        EC2 `i-` ids are refused as AWS does; their tags belong to EC2 (and the tagging API)."""
        if self._get_param("ResourceType") != "ManagedInstance":
            return None
        host = self.fleet_host(self._get_param("ResourceId"))
        if host is None or not host.managed or not host.is_managed_instance:
            raise SsmError("InvalidResourceId", "The resource ID is not valid. Verify the ID and try again.")
        return host


def _matches(host: Host, key: str, values: list[str]) -> bool:
    actual = _attribute(host, key)
    if actual is None:
        raise SsmError("InvalidFilterKey", f"The filter key {key} is not valid.")
    return any(v in actual for v in values)
