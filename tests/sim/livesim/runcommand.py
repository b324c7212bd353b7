"""SendCommand's one path: validation, targeting and the command record.

The SendCommand operation and maintenance window RUN_COMMAND tasks both send through
`send_command`, so a window's commands are validated, targeted, run by the agents and
reported (events included) exactly as the product's own commands are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.ssm.models import SimpleSystemManagerBackend

from .commands import Command, Invocation, PluginRun, WindowOrigin
from .documents import command_document
from .errors import SsmError, validation_error
from .host import Host
from .targets import resolve_targets
from .timeutil import iso_seconds

if TYPE_CHECKING:
    from .simulation import Simulation


@dataclass
class CommandRequest:
    """What a SendCommand call asks for, with SendCommand's defaults."""

    document_name: str
    parameters: dict[str, list[str]] = field(default_factory=dict)
    instance_ids: list[str] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    document_version: str | None = None
    comment: str = ""
    timeout_seconds: Any = 3600
    max_concurrency: str = "50"
    max_errors: str = "0"
    service_role: str = ""
    notification_config: dict[str, Any] = field(default_factory=dict)
    cloudwatch_output_config: dict[str, Any] = field(default_factory=dict)
    output_s3_bucket_name: str = ""
    output_s3_key_prefix: str = ""
    output_s3_region: str | None = None


def send_command(
    sim: Simulation,
    backend: SimpleSystemManagerBackend,
    account: str,
    region: str,
    request: CommandRequest,
    raw: dict[str, Any],
    origin: WindowOrigin | None = None,
    run_now: bool = True,
) -> Command:
    """Create the command, or raise the SsmError SendCommand answers with.

    Every request is recorded for `/_sim/commands`, failed ones with their error. `raw` is
    the request as sent; `run_now=False` leaves auto mode's agent run to the caller.
    """
    with sim.lock:
        try:
            command = _create(sim, backend, account, region, request, origin)
        except SsmError as error:
            sim.command_requests.append(
                {
                    "command_id": None,
                    "requested": iso_seconds(sim.now),
                    "request": raw,
                    "window": vars(origin) if origin else None,
                    "error": {"code": error.code, "message": error.message},
                }
            )
            raise
        sim.add_command(command, _request_record(command, raw), run_now=run_now)
        return command


def _create(
    sim: Simulation,
    backend: SimpleSystemManagerBackend,
    account: str,
    region: str,
    request: CommandRequest,
    origin: WindowOrigin | None,
) -> Command:
    instance_ids = list(dict.fromkeys(request.instance_ids))
    _validate(instance_ids, request)
    document = command_document(backend, request.document_name, request.document_version)
    resolved = document.resolve_parameters(request.parameters)
    if instance_ids:
        hosts = _explicit_instances(sim, account, region, instance_ids)
    else:
        visible = [h for h in sim.hosts if h.visible_to_ssm] if sim.serves(account, region) else []
        hosts = resolve_targets(visible, request.targets)
    command = Command(
        id=str(uuid.uuid4()),
        document_name=document.name,
        document_version=request.document_version or "$DEFAULT",
        comment=request.comment,
        parameters=request.parameters,
        instance_ids=instance_ids,
        targets=request.targets,
        requested=sim.now,
        timeout_seconds=request.timeout_seconds,
        max_concurrency=request.max_concurrency,
        max_errors=request.max_errors,
        service_role=request.service_role,
        notification_config=request.notification_config,
        cloudwatch_output_config=request.cloudwatch_output_config,
        output_s3_bucket_name=request.output_s3_bucket_name,
        output_s3_key_prefix=request.output_s3_key_prefix,
        output_s3_region=request.output_s3_region or region,
        account=account,
        region=region,
        document=document,
        resolved_parameters=resolved,
        origin=origin,
    )
    command.invocations = [
        Invocation(command, h.id, h.computer_name, [PluginRun(step.name) for step in document.steps])
        for h in hosts
    ]
    return command


def _explicit_instances(sim: Simulation, account: str, region: str, instance_ids: list[str]) -> list[Host]:
    """Every listed instance must be managed, running and online, or the whole call fails."""
    serves = sim.serves(account, region)
    hosts = [sim.host(i) if serves else None for i in instance_ids]
    invalid = [i for i, h in zip(instance_ids, hosts, strict=True) if h is None or not h.reachable]
    if invalid:
        listed = ", ".join(invalid)
        raise SsmError(
            "InvalidInstanceId", f"Instances [[{listed}]] not in a valid state for account {account}"
        )
    return hosts  # type: ignore[return-value]


def _validate(instance_ids: list[str], request: CommandRequest) -> None:
    targets, comment, timeout = request.targets, request.comment, request.timeout_seconds
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


def _request_record(command: Command, raw: dict[str, Any]) -> dict[str, Any]:
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
        "window": vars(command.origin) if command.origin else None,
        "request": raw,
    }
