"""Maintenance window executions: what runs when a window's time comes, and how it ends.

An execution runs its tasks in priority order (same priority: side by side). A
RUN_COMMAND task invokes each target instance with its own Run Command, sent through
SendCommand's path (`runcommand.send_command`), as Maintenance Windows does: the
invocation's `ExecutionId` is that command's ID. MaxConcurrency caps the invocations
running at once, MaxErrors stops new invocations once more have failed, and the
Cutoff stops new invocations that many hours before the window's end.

Statuses move only when the simulation settles (`WindowRunner.settle`), which it does
after every agent pass, cancellation and clock move. Each task and execution change
emits its EventBridge event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from moto.ssm.models import ssm_backends

from . import events
from .commands import Command, WindowOrigin
from .errors import SsmError
from .maintenance import MaintenanceWindow, WindowTask, new_id, target_instances
from .runcommand import CommandRequest, send_command

if TYPE_CHECKING:
    from .simulation import Simulation

PENDING, IN_PROGRESS, SUCCESS, FAILED = "PENDING", "IN_PROGRESS", "SUCCESS", "FAILED"
TIMED_OUT, CANCELLED, SKIPPED_OVERLAPPING = "TIMED_OUT", "CANCELLED", "SKIPPED_OVERLAPPING"
FINAL = frozenset({SUCCESS, FAILED, TIMED_OUT, CANCELLED, SKIPPED_OVERLAPPING})
# Run Command invocation status -> maintenance window invocation status.
_FROM_RUN_COMMAND = {
    "Success": SUCCESS,
    "Failed": FAILED,
    "TimedOut": TIMED_OUT,
    "Cancelled": CANCELLED,
}
EXECUTION_FAILED = "One or more tasks in the orchestration failed."
EXECUTION_TIMED_OUT = "The maintenance window execution timed out."
NO_INVOCATIONS = "No invocations to execute."
STATUS_DETAILS_LIMIT = 250


@dataclass(frozen=True)
class Target:
    """One instance a task invokes, and the window target it came from (None: named by the task)."""

    instance_id: str
    window_target_id: str | None
    owner_information: str | None


@dataclass
class TaskInvocation:
    """One target of a task execution; its status follows its Run Command invocation."""

    id: str
    target: Target
    parameters: str  # the SendCommand request, as JSON, as AWS reports it
    started: datetime
    command: Command | None = None
    # SendCommand refused (e.g. InvalidInstanceId): the invocation failed without a command.
    refused: str | None = None
    refused_at: datetime | None = None

    @property
    def status(self) -> str:
        if self.command is None:
            return FAILED
        invocation = self.command.invocations[0]
        return _FROM_RUN_COMMAND.get(invocation.status, IN_PROGRESS)

    @property
    def status_details(self) -> str:
        if self.command is None:
            return (self.refused or "")[:STATUS_DETAILS_LIMIT]
        return self.command.invocations[0].status_details

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def ended(self) -> datetime | None:
        if self.command is None:
            return self.refused_at
        if not self.final:
            return None
        finished = [p.finished for p in self.command.invocations[0].plugins if p.finished]
        return max(finished, default=self.started)


@dataclass
class TaskExecution:
    id: str
    task: WindowTask  # as registered when the execution started
    status: str = PENDING
    status_details: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    queue: list[Target] = field(default_factory=list)  # targets not invoked yet
    invocations: list[TaskInvocation] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def errors(self) -> int:
        return sum(1 for i in self.invocations if i.status in (FAILED, TIMED_OUT))


@dataclass
class WindowExecution:
    id: str
    window_id: str
    started: datetime
    cutoff_at: datetime  # no new invocations from then on
    ends_at: datetime  # the window closes; what still runs times the execution out
    status: str = IN_PROGRESS
    status_details: str = ""
    ended: datetime | None = None
    tasks: list[TaskExecution] = field(default_factory=list)  # by priority

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def task(self, task_execution_id: str | None) -> TaskExecution:
        for task in self.tasks:
            if task.id == task_execution_id:
                return task
        raise SsmError(
            "DoesNotExistException", f"Maintenance window task execution {task_execution_id} does not exist"
        )


class WindowRunner:
    """Starts executions at their occurrence and moves them on as their commands progress."""

    def __init__(self, simulation: Simulation):
        self.sim = simulation
        self._working = False

    @contextmanager
    def _busy(self) -> Iterator[bool]:
        """Yields False when already busy. Cancelling a command settles the simulation, which must
        not re-enter an execution that is being started, settled or cancelled."""
        if self._working:
            yield False
            return
        self._working = True
        try:
            yield True
        finally:
            self._working = False

    # -- start ------------------------------------------------------------------------
    def start(self, window: MaintenanceWindow, instant: datetime) -> WindowExecution:
        with self._busy():
            return self._start(window, instant)

    def _start(self, window: MaintenanceWindow, instant: datetime) -> WindowExecution:
        settings = window.settings
        execution = WindowExecution(
            id=new_id(),
            window_id=window.id,
            started=instant,
            cutoff_at=instant + timedelta(hours=settings.duration - settings.cutoff),
            ends_at=instant + timedelta(hours=settings.duration),
        )
        window.scheduled_through = instant
        if any(not e.final for e in window.executions):
            # The previous execution still runs: this one is skipped, as SSM does.
            execution.status, execution.ended = SKIPPED_OVERLAPPING, instant
            window.executions.append(execution)
            self._emit_execution(window, execution)
            return execution
        execution.tasks = [
            TaskExecution(new_id(), task)
            for task in sorted(window.tasks.values(), key=lambda t: t.priority)  # stable: registration order
        ]
        window.executions.append(execution)
        self._emit_execution(window, execution)
        self._advance(window, execution)
        return execution

    # -- settle -------------------------------------------------------------------------
    def settle(self) -> bool:
        """Bring every running execution up to date at the clock; True when it sent commands."""
        with self._busy() as free:
            sent = False
            for window in list(self.sim.windows.windows.values()) if free else []:
                for execution in window.executions:
                    if not execution.final:
                        sent |= self._advance(window, execution)
            return sent

    def cancel(self, window: MaintenanceWindow, execution: WindowExecution) -> None:
        """CancelMaintenanceWindowExecution: no new invocations; pending commands are cancelled."""
        with self._busy():
            self._cancel(window, execution)

    def _cancel(self, window: MaintenanceWindow, execution: WindowExecution) -> None:
        now = self.sim.now
        for task in execution.tasks:
            if task.final:
                continue
            task.queue.clear()
            self._cancel_commands(task)
            if task.status == PENDING:
                task.started = now
            self._finish_task(window, execution, task, CANCELLED, "")
        execution.status, execution.ended = CANCELLED, now
        self._emit_execution(window, execution)

    def _advance(self, window: MaintenanceWindow, execution: WindowExecution) -> bool:
        now, sent = self.sim.now, False
        for priority in sorted({t.task.priority for t in execution.tasks}):
            group = [t for t in execution.tasks if t.task.priority == priority]
            for task in group:
                if not task.final:
                    sent |= self._advance_task(window, execution, task)
            if not all(t.final for t in group):
                break  # lower priorities wait for this one
        if not all(t.final for t in execution.tasks):
            if now >= execution.ends_at:
                self._time_out(window, execution)
        else:
            statuses = {t.status for t in execution.tasks}
            if FAILED in statuses:
                status, details = FAILED, EXECUTION_FAILED
            elif TIMED_OUT in statuses:
                status, details = TIMED_OUT, EXECUTION_TIMED_OUT
            else:
                status, details = SUCCESS, ""
            execution.status, execution.status_details, execution.ended = status, details, now
            self._emit_execution(window, execution)
        return sent

    def _advance_task(
        self, window: MaintenanceWindow, execution: WindowExecution, task: TaskExecution
    ) -> bool:
        now, definition = self.sim.now, task.task
        if task.status == PENDING:
            task.status, task.started = IN_PROGRESS, now
            self._emit_task(window, execution, task)
            if definition.task_type != "RUN_COMMAND":
                message = f"livesim simulates RUN_COMMAND tasks only, not {definition.task_type}."
                self._finish_task(window, execution, task, FAILED, message)
                return False
            task.queue = self._targets(window, definition)
        total = len(task.queue) + len(task.invocations)
        allowed_errors = _limit(definition.max_errors or "0", total, minimum=0)
        concurrency = _limit(definition.max_concurrency or "1", total, minimum=1)
        cut_off = now >= execution.cutoff_at
        sent = False
        while task.queue and not cut_off and task.errors <= allowed_errors:
            if sum(1 for i in task.invocations if not i.final) >= concurrency:
                break
            invocation = self._invoke(window, execution, task, task.queue.pop(0))
            task.invocations.append(invocation)
            sent |= invocation.command is not None
        if any(not i.final for i in task.invocations):
            if cut_off and definition.cutoff_behavior == "CANCEL_TASK":
                self._cancel_commands(task)
            return sent
        if not task.invocations and not task.queue:
            self._finish_task(window, execution, task, SUCCESS, NO_INVOCATIONS)
        elif task.queue and cut_off:
            left = len(task.queue)
            self._finish_task(
                window, execution, task, TIMED_OUT, f"The cutoff passed: {left} targets not run."
            )
        elif task.queue:
            left = len(task.queue)
            self._finish_task(window, execution, task, FAILED, f"MaxErrors reached: {left} targets not run.")
        elif all(i.status == SUCCESS for i in task.invocations):
            self._finish_task(window, execution, task, SUCCESS, "")
        else:
            self._finish_task(window, execution, task, FAILED, "")
        return sent

    def _time_out(self, window: MaintenanceWindow, execution: WindowExecution) -> None:
        """The window closed with work left: what still runs keeps running, unreported."""
        for task in execution.tasks:
            if not task.final:
                task.queue.clear()
                task.started = task.started or execution.ends_at
                self._finish_task(window, execution, task, TIMED_OUT, EXECUTION_TIMED_OUT, execution.ends_at)
        execution.status, execution.status_details = TIMED_OUT, EXECUTION_TIMED_OUT
        execution.ended = execution.ends_at
        self._emit_execution(window, execution)

    def _finish_task(
        self,
        window: MaintenanceWindow,
        execution: WindowExecution,
        task: TaskExecution,
        status: str,
        details: str,
        ended: datetime | None = None,
    ) -> None:
        task.status, task.status_details, task.ended = status, details, ended or self.sim.now
        self._emit_task(window, execution, task)

    # -- targets and invocations ----------------------------------------------------------
    def _targets(self, window: MaintenanceWindow, task: WindowTask) -> list[Target]:
        """The task's instances, resolved now: window targets by their IDs, or instances named directly."""
        fleet_hosts = (
            [h for h in self.sim.hosts if h.visible_to_ssm]
            if self.sim.serves(window.account, window.region)
            else []
        )
        found: dict[str, Target] = {}
        for target in task.targets:
            for value in target.get("Values", []):
                if target.get("Key") == "InstanceIds":
                    found.setdefault(value, Target(value, None, None))
                    continue
                registered = window.targets.get(value)
                if registered is None:  # deregistered since, without Safe
                    continue
                for instance_id in target_instances(registered.targets, fleet_hosts):
                    found.setdefault(
                        instance_id, Target(instance_id, registered.id, registered.owner_information)
                    )
        return list(found.values())

    def _invoke(
        self, window: MaintenanceWindow, execution: WindowExecution, task: TaskExecution, target: Target
    ) -> TaskInvocation:
        definition, now = task.task, self.sim.now
        run_command = definition.run_command
        comment = run_command.get("Comment") or f"Maintenance window {window.settings.name} ({window.id})"
        request = CommandRequest(
            document_name=definition.task_arn,
            document_version=run_command.get("DocumentVersion"),
            parameters=definition.document_parameters,
            instance_ids=[target.instance_id],
            comment=comment[:100],
            timeout_seconds=run_command.get("TimeoutSeconds", 3600),
            max_concurrency=definition.max_concurrency or "1",
            max_errors=definition.max_errors or "0",
            service_role=run_command.get("ServiceRoleArn") or definition.service_role_arn or "",
            notification_config=run_command.get("NotificationConfig") or {},
            cloudwatch_output_config=run_command.get("CloudWatchOutputConfig") or {},
            output_s3_bucket_name=run_command.get("OutputS3BucketName", ""),
            output_s3_key_prefix=run_command.get("OutputS3KeyPrefix", ""),
        )
        # The same keys AWS shows in an invocation's Parameters.
        raw = {
            "comment": request.comment,
            "documentName": request.document_name,
            "instanceIds": request.instance_ids,
            "maxConcurrency": request.max_concurrency,
            "maxErrors": request.max_errors,
            "parameters": request.parameters,
            "timeoutSeconds": request.timeout_seconds,
        }
        invocation = TaskInvocation(new_id(), target, json.dumps(raw, separators=(",", ":")), now)
        origin = WindowOrigin(window.id, execution.id, task.id, invocation.id)
        backend = ssm_backends[window.account][window.region]
        try:
            invocation.command = send_command(
                self.sim, backend, window.account, window.region, request, raw, origin, run_now=False
            )
        except SsmError as error:
            invocation.refused, invocation.refused_at = f"{error.code}: {error.message}", now
        return invocation

    def _cancel_commands(self, task: TaskExecution) -> None:
        for invocation in task.invocations:
            if invocation.command is not None and not invocation.final:
                self.sim.cancel_command(invocation.command, [])

    # -- events -----------------------------------------------------------------------------
    def _emit_execution(self, window: MaintenanceWindow, execution: WindowExecution) -> None:
        self.sim.events.append(
            events.window_execution_state_change(
                account=window.account,
                region=window.region,
                time=self.sim.now,
                window_arn=window.arn,
                window_id=window.id,
                window_execution_id=execution.id,
                started=execution.started,
                ended=execution.ended,
                status=execution.status,
            )
        )

    def _emit_task(self, window: MaintenanceWindow, execution: WindowExecution, task: TaskExecution) -> None:
        self.sim.events.append(
            events.task_execution_state_change(
                account=window.account,
                region=window.region,
                time=self.sim.now,
                window_arn=window.arn,
                window_id=window.id,
                window_execution_id=execution.id,
                task_execution_id=task.id,
                started=task.started or execution.started,
                ended=task.ended,
                status=task.status,
            )
        )


def _limit(spec: str, total: int, minimum: int) -> int:
    """MaxConcurrency / MaxErrors: a count, or a percentage of the targets."""
    if spec.endswith("%"):
        return max(minimum, total * int(spec[:-1]) // 100)
    return max(minimum, int(spec))
