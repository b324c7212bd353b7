"""Run Command's records: a command, its invocations, their plugins and derived statuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .documents import CommandDocument
from .outcome import StepResult
from .timeutil import elapsed, iso_millis

FINAL_STATUSES = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
PLUGIN_OUTPUT_LIMIT = 2500  # CommandPlugin.Output (ListCommandInvocations)
STDOUT_LIMIT = 24000  # GetCommandInvocation.StandardOutputContent
STDERR_LIMIT = 8000  # GetCommandInvocation.StandardErrorContent
ERROR_SEPARATOR = "\n----------ERROR-------\n"


@dataclass(frozen=True)
class WindowOrigin:
    """The maintenance window task invocation that sent a command (None: someone called SendCommand)."""

    window_id: str
    window_execution_id: str
    task_execution_id: str
    invocation_id: str


@dataclass
class PluginRun:
    """One step of the document on one instance."""

    name: str
    status: str = "Pending"
    status_details: str = "Pending"
    response_code: int = -1
    stdout: str = ""
    stderr: str = ""
    started: datetime | None = None
    finished: datetime | None = None

    @property
    def output(self) -> str:
        text = self.stdout + (ERROR_SEPARATOR + self.stderr if self.stderr else "")
        return text[:PLUGIN_OUTPUT_LIMIT]

    def to_api(self) -> dict[str, Any]:
        plugin: dict[str, Any] = {
            "Name": self.name,
            "Status": self.status,
            "StatusDetails": self.status_details,
            "ResponseCode": self.response_code,
            "Output": self.output,
            "StandardOutputUrl": "",
            "StandardErrorUrl": "",
        }
        if self.started:
            plugin["ResponseStartDateTime"] = self.started
        if self.finished:
            plugin["ResponseFinishDateTime"] = self.finished
        return plugin


@dataclass
class Invocation:
    command: Command
    instance_id: str
    instance_name: str
    plugins: list[PluginRun]
    status: str = "Pending"
    status_details: str = "Pending"
    # A step rebooted the instance: (step index, how to finish it) for the next agent run.
    resume_after_reboot: tuple[int, Callable[[datetime], StepResult]] | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def set_status(self, status: str, details: str | None = None) -> None:
        self.status = status
        self.status_details = details or status

    def plugin(self, name: str | None) -> PluginRun | None:
        if name is None:
            return self.plugins[0] if len(self.plugins) == 1 else None
        return next((p for p in self.plugins if p.name == name), None)

    def to_api(self, details: bool) -> dict[str, Any]:
        command = self.command
        return {
            "CommandId": command.id,
            "InstanceId": self.instance_id,
            "InstanceName": self.instance_name,
            "Comment": command.comment,
            "DocumentName": command.document_name,
            "DocumentVersion": command.document_version,
            "RequestedDateTime": command.requested,
            "Status": self.status,
            "StatusDetails": self.status_details,
            "TraceOutput": "",
            "StandardOutputUrl": "",
            "StandardErrorUrl": "",
            "CommandPlugins": [p.to_api() for p in self.plugins] if details else [],
            "ServiceRole": command.service_role,
            "NotificationConfig": command.notification_config,
            "CloudWatchOutputConfig": command.cloudwatch_output_config,
        }

    def to_get_api(self, plugin: PluginRun) -> dict[str, Any]:
        """GetCommandInvocation: one plugin's status and output; times are strings there."""
        waiting = plugin.status == "Pending"  # not started: the invocation says why (Pending, Delayed)
        status = self.status if waiting else plugin.status
        details = self.status_details if waiting else plugin.status_details
        result: dict[str, Any] = {
            "CommandId": self.command.id,
            "InstanceId": self.instance_id,
            "Comment": self.command.comment,
            "DocumentName": self.command.document_name,
            "DocumentVersion": self.command.document_version,
            "PluginName": plugin.name,
            "ResponseCode": plugin.response_code,
            "ExecutionStartDateTime": iso_millis(plugin.started) if plugin.started else "",
            "ExecutionElapsedTime": elapsed((plugin.finished - plugin.started).total_seconds())
            if plugin.started and plugin.finished
            else "",
            "ExecutionEndDateTime": iso_millis(plugin.finished) if plugin.finished else "",
            "Status": status,
            "StatusDetails": details,
            "StandardOutputContent": plugin.stdout[:STDOUT_LIMIT],
            "StandardOutputUrl": "",
            "StandardErrorContent": plugin.stderr[:STDERR_LIMIT],
            "StandardErrorUrl": "",
            "CloudWatchOutputConfig": self.command.cloudwatch_output_config,
        }
        return result


@dataclass
class Command:
    id: str
    document_name: str
    document_version: str
    comment: str
    parameters: dict[str, list[str]]
    instance_ids: list[str]
    targets: list[dict[str, Any]]
    requested: datetime
    timeout_seconds: int
    max_concurrency: str
    max_errors: str
    service_role: str
    notification_config: dict[str, Any]
    cloudwatch_output_config: dict[str, Any]
    output_s3_bucket_name: str
    output_s3_key_prefix: str
    output_s3_region: str
    account: str
    region: str
    document: CommandDocument
    resolved_parameters: dict[str, list[str]]  # with the document's defaults
    invocations: list[Invocation] = field(default_factory=list)
    cancelled: bool = False
    status_event_sent: bool = False
    origin: WindowOrigin | None = None

    @property
    def expires(self) -> datetime:
        """Delivery deadline: an invocation not started by then times out."""
        return self.requested + timedelta(seconds=self.timeout_seconds)

    def invocation(self, instance_id: str) -> Invocation | None:
        return next((i for i in self.invocations if i.instance_id == instance_id), None)

    @property
    def final(self) -> bool:
        return all(i.final for i in self.invocations)

    @property
    def error_count(self) -> int:
        return sum(
            1
            for i in self.invocations
            if i.status == "Failed" or (i.status == "TimedOut" and i.status_details != "DeliveryTimedOut")
        )

    @property
    def delivery_timed_out_count(self) -> int:
        return sum(1 for i in self.invocations if i.status_details == "DeliveryTimedOut")

    def allowed_errors(self) -> int:
        target_count = len(self.invocations)
        if self.max_errors.endswith("%"):
            return int(target_count * int(self.max_errors[:-1]) / 100)
        return int(self.max_errors)

    def status(self) -> tuple[str, str]:
        """(Status, StatusDetails) of the command, derived from its invocations."""
        statuses = [i.status for i in self.invocations]
        if not self.final:
            if self.cancelled:
                return "Cancelling", "Cancelling"
            if all(s == "Pending" for s in statuses):
                return "Pending", "Pending"
            return "InProgress", "InProgress"
        if all(s == "Success" for s in statuses):
            return "Success", "Success"
        if self.cancelled:
            return "Cancelled", "Cancelled"
        if self.error_count > self.allowed_errors():
            return "Failed", "Failed"
        if self.error_count == 0 and self.delivery_timed_out_count:
            return "TimedOut", "DeliveryTimedOut"
        return "Failed", "Incomplete"

    def to_api(self) -> dict[str, Any]:
        status, details = self.status()
        command: dict[str, Any] = {
            "CommandId": self.id,
            "DocumentName": self.document_name,
            "DocumentVersion": self.document_version,
            "Comment": self.comment,
            "ExpiresAfter": self.expires,
            "Parameters": self.parameters,
            "InstanceIds": self.instance_ids,
            "Targets": self.targets,
            "RequestedDateTime": self.requested,
            "Status": status,
            "StatusDetails": details,
            "OutputS3Region": self.output_s3_region,
            "OutputS3BucketName": self.output_s3_bucket_name,
            "OutputS3KeyPrefix": self.output_s3_key_prefix,
            "MaxConcurrency": self.max_concurrency,
            "MaxErrors": self.max_errors,
            "TargetCount": len(self.invocations),
            "CompletedCount": sum(1 for i in self.invocations if i.final),
            "ErrorCount": self.error_count,
            "DeliveryTimedOutCount": self.delivery_timed_out_count,
            "ServiceRole": self.service_role,
            "NotificationConfig": self.notification_config,
            "CloudWatchOutputConfig": self.cloudwatch_output_config,
            "TimeoutSeconds": self.timeout_seconds,
        }
        return command
