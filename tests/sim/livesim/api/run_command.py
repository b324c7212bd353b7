"""Run Command: SendCommand with real targeting and validation, and its listings."""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.core.responses import ActionResult, EmptyResult

from ..commands import FINAL_STATUSES, Command, Invocation, PluginRun
from ..documents import command_document
from ..errors import SsmError, validation_error
from ..host import Host
from ..timeutil import iso_seconds, parse_time
from .base import SimulatedOperations
from .pagination import max_results, page

NO_SUCH_INVOCATION = (
    "The command ID and managed node ID you specified didn't match any invocations. "
    "Verify the command ID and the managed node ID and try again."
)
COMMAND_FILTER_KEYS = ("InvokedAfter", "InvokedBefore", "Status", "ExecutionStage", "DocumentName")


class RunCommandOperations(SimulatedOperations):
    def send_command(self) -> ActionResult:
        request = json.loads(self.body or "{}")
        try:
            command = self._create_command(request)
        except SsmError as error:
            with self.sim.lock:
                self.sim.command_requests.append(
                    {
                        "command_id": None,
                        "requested": iso_seconds(self.sim.now),
                        "request": request,
                        "error": {"code": error.code, "message": error.message},
                    }
                )
            raise
        return ActionResult({"Command": command.to_api()})

    def _create_command(self, request: dict[str, Any]) -> Command:
        instance_ids = list(dict.fromkeys(self.param("InstanceIds", [])))
        targets = self.param("Targets", [])
        comment = self.param("Comment", "")
        timeout = self.param("TimeoutSeconds", 3600)
        _validate_request(instance_ids, targets, comment, timeout)
        with self.sim.lock:
            document = command_document(
                self.ssm_backend, self._get_param("DocumentName"), self._get_param("DocumentVersion")
            )
            given = self.param("Parameters", {})
            resolved = document.resolve_parameters(given)
            hosts = self._explicit_instances(instance_ids) if instance_ids else self._resolve_targets(targets)
            command = Command(
                id=str(uuid.uuid4()),
                document_name=document.name,
                document_version=self.param("DocumentVersion", "$DEFAULT"),
                comment=comment,
                parameters=given,
                instance_ids=instance_ids,
                targets=targets,
                requested=self.sim.now,
                timeout_seconds=timeout,
                max_concurrency=self.param("MaxConcurrency", "50"),
                max_errors=self.param("MaxErrors", "0"),
                service_role=self.param("ServiceRoleArn", ""),
                notification_config=self.param("NotificationConfig", {}),
                cloudwatch_output_config=self.param("CloudWatchOutputConfig", {}),
                output_s3_bucket_name=self.param("OutputS3BucketName", ""),
                output_s3_key_prefix=self.param("OutputS3KeyPrefix", ""),
                output_s3_region=self.param("OutputS3Region", self.region),
                account=self.current_account,
                region=self.region,
                document=document,
                resolved_parameters=resolved,
            )
            command.invocations = [
                Invocation(command, h.id, h.computer_name, [PluginRun(step.name) for step in document.steps])
                for h in hosts
            ]
            self.sim.add_command(command, _request_record(command, request))
        return command

    def _explicit_instances(self, instance_ids: list[str]) -> list[Host]:
        """Every listed instance must be managed, running and online, or the whole call fails."""
        hosts = [self.fleet_host(i) for i in instance_ids]
        invalid = [i for i, h in zip(instance_ids, hosts, strict=True) if h is None or not h.reachable]
        if invalid:
            listed = ", ".join(invalid)
            raise SsmError(
                "InvalidInstanceId",
                f"Instances [[{listed}]] not in a valid state for account {self.current_account}",
            )
        return hosts  # type: ignore[return-value]

    def _resolve_targets(self, targets: list[dict[str, Any]]) -> list[Host]:
        """Targets AND together; they match managed, running instances (online or not)."""
        hosts = [h for h in self.sim.hosts if h.visible_to_ssm] if self.serves_fleet else []
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

    def cancel_command(self) -> ActionResult:
        with self.sim.lock:
            command = self._own_command(self._get_param("CommandId"), "InvalidCommandId")
            self.sim.cancel_command(command, self.param("InstanceIds", []))
        return EmptyResult()

    def list_commands(self) -> ActionResult:
        limit = max_results(self._get_param("MaxResults"), 50, 1, 50)
        filters = self.param("Filters", [])
        with self.sim.lock:
            commands = self._commands(self._get_param("CommandId"), self._get_param("InstanceId"))
            commands = [c for c in commands if all(_command_matches(c, c.status()[0], f) for f in filters)]
            selected, token = page(commands, self._get_param("NextToken"), limit)
            result: dict[str, Any] = {"Commands": [c.to_api() for c in selected]}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def list_command_invocations(self) -> ActionResult:
        limit = max_results(self._get_param("MaxResults"), 50, 1, 50)
        filters = self.param("Filters", [])
        instance_id = self._get_param("InstanceId")
        details = bool(self._get_param("Details"))
        with self.sim.lock:
            invocations = [
                i
                for c in self._commands(self._get_param("CommandId"), instance_id)
                for i in c.invocations
                if (not instance_id or i.instance_id == instance_id)
                and all(_command_matches(c, i.status, f) for f in filters)
            ]
            selected, token = page(invocations, self._get_param("NextToken"), limit)
            result: dict[str, Any] = {"CommandInvocations": [i.to_api(details) for i in selected]}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def get_command_invocation(self) -> ActionResult:
        command_id, instance_id = self._get_param("CommandId"), self._get_param("InstanceId")
        plugin_name = self._get_param("PluginName")
        with self.sim.lock:
            command = self._own_command(command_id, "InvocationDoesNotExist")
            invocation = command.invocation(instance_id)
            if invocation is None:
                raise SsmError("InvocationDoesNotExist", NO_SUCH_INVOCATION)
            plugin = invocation.plugin(plugin_name)
            if plugin is None:
                raise SsmError(
                    "InvalidPluginName",
                    "The plugin name is not valid. Documents with several steps need the step name "
                    f"({', '.join(p.name for p in invocation.plugins)}).",
                )
            return ActionResult(invocation.to_get_api(plugin))

    def _own_command(self, command_id: str | None, missing_error: str) -> Command:
        command = self.sim.commands.get(command_id or "")
        if command is None or (command.account, command.region) != (self.current_account, self.region):
            message = (
                NO_SUCH_INVOCATION if missing_error == "InvocationDoesNotExist" else "Invalid command id."
            )
            raise SsmError(missing_error, message)
        return command

    def _commands(self, command_id: str | None, instance_id: str | None) -> list[Command]:
        """The caller's commands, newest first."""
        if command_id:
            return [self._own_command(command_id, "InvalidCommandId")]
        commands = [
            c
            for c in reversed(self.sim.commands.values())
            if (c.account, c.region) == (self.current_account, self.region)
        ]
        if instance_id:
            commands = [c for c in commands if c.invocation(instance_id) is not None]
        return commands


def _validate_request(
    instance_ids: list[str], targets: list[dict[str, Any]], comment: str, timeout: Any
) -> None:
    if len(instance_ids) > 50:
        raise validation_error(
            "instanceIds", instance_ids, "Member must have length less than or equal to 50"
        )
    if len(targets) > 5:
        raise validation_error("targets", targets, "Member must have length less than or equal to 5")
    if any(len(t.get("Values", [])) > 50 for t in targets):
        raise validation_error("targets.values", targets, "Member must have length less than or equal to 50")
    if bool(instance_ids) == bool(targets):
        raise SsmError(
            "ValidationException", "Specify either InstanceIds or Targets, not both and not neither."
        )
    if len(comment) > 100:
        raise validation_error("comment", comment, "Member must have length less than or equal to 100")
    if not isinstance(timeout, int) or not 30 <= timeout <= 2592000:
        raise validation_error("timeoutSeconds", timeout, "Member must have value between 30 and 2592000")


def _command_matches(command: Command, status: str, command_filter: dict[str, str]) -> bool:
    key, value = command_filter.get("key"), command_filter.get("value", "")
    if key not in COMMAND_FILTER_KEYS:
        raise SsmError("InvalidFilterKey", f"The filter key {key} is not valid.")
    if key in ("InvokedAfter", "InvokedBefore"):
        try:
            moment = parse_time(value)
        except ValueError:
            raise SsmError("InvalidFilterValue", f"{value} is not a valid date-time.") from None
        return command.requested >= moment if key == "InvokedAfter" else command.requested <= moment
    if key == "Status":
        return status == value
    if key == "DocumentName":
        return command.document_name == value
    if value not in ("Executing", "Complete"):
        raise SsmError("InvalidFilterValue", f"ExecutionStage must be Executing or Complete, not {value}.")
    return (status in FINAL_STATUSES) == (value == "Complete")


def _request_record(command: Command, request: dict[str, Any]) -> dict[str, Any]:
    """What /_sim/commands shows: the request as sent, and what it resolved to."""
    return {
        "command_id": command.id,
        "requested": iso_seconds(command.requested),
        "document_name": command.document_name,
        "document_version": command.document_version,
        "parameters": command.parameters,
        "instance_ids": command.instance_ids,
        "targets": command.targets,
        "resolved_instance_ids": [i.instance_id for i in command.invocations],
        "comment": command.comment,
        "max_concurrency": command.max_concurrency,
        "max_errors": command.max_errors,
        "timeout_seconds": command.timeout_seconds,
        "request": request,
    }
