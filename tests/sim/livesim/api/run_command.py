"""Run Command: SendCommand with real targeting and validation, and its listings."""

from __future__ import annotations

import json
from typing import Any

from moto.core.responses import ActionResult, EmptyResult

from ..commands import FINAL_STATUSES, Command
from ..errors import SsmError
from ..runcommand import CommandRequest, send_command
from ..timeutil import parse_time
from .base import SimulatedOperations
from .pagination import max_results, page

NO_SUCH_INVOCATION = (
    "The command ID and managed node ID you specified didn't match any invocations. "
    "Verify the command ID and the managed node ID and try again."
)
COMMAND_FILTER_KEYS = ("InvokedAfter", "InvokedBefore", "Status", "ExecutionStage", "DocumentName")


class RunCommandOperations(SimulatedOperations):
    def send_command(self) -> ActionResult:
        request = CommandRequest(
            document_name=self._get_param("DocumentName"),
            document_version=self._get_param("DocumentVersion"),
            parameters=self.param("Parameters", {}),
            instance_ids=self.param("InstanceIds", []),
            targets=self.param("Targets", []),
            comment=self.param("Comment", ""),
            timeout_seconds=self.param("TimeoutSeconds", 3600),
            max_concurrency=self.param("MaxConcurrency", "50"),
            max_errors=self.param("MaxErrors", "0"),
            service_role=self.param("ServiceRoleArn", ""),
            notification_config=self.param("NotificationConfig", {}),
            cloudwatch_output_config=self.param("CloudWatchOutputConfig", {}),
            output_s3_bucket_name=self.param("OutputS3BucketName", ""),
            output_s3_key_prefix=self.param("OutputS3KeyPrefix", ""),
            output_s3_region=self.param("OutputS3Region", self.region),
        )
        raw = json.loads(self.body or "{}")
        command = send_command(self.sim, self.ssm_backend, self.current_account, self.region, request, raw)
        return ActionResult({"Command": command.to_api()})

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
