"""What maintenance windows ran and will run: executions, their tasks and invocations, the schedule.

None of these exist in moto 5.2.5 (they answer HTTP 500); the executions are livesim's
(`windowrun.py`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult

from ..errors import SsmError
from ..maintenance import window_instances
from ..timeutil import parse_time
from ..windowrun import TaskExecution, TaskInvocation, WindowExecution
from .base import SimulatedOperations
from .maintenance_windows import DEFAULT_PAGE, instance_ids_of, invalid
from .pagination import max_results, page

SCHEDULE_HORIZON = timedelta(days=366)  # how far DescribeMaintenanceWindowSchedule looks ahead


class WindowExecutionOperations(SimulatedOperations):
    def describe_maintenance_window_executions(self) -> ActionResult:
        limit = max_results(self._get_param("MaxResults"), DEFAULT_PAGE, 10, 100)
        with self.sim.lock:
            window = self.sim.windows.get(self.current_account, self.region, self._get_param("WindowId"))
            executions = sorted(window.executions, key=lambda e: e.started, reverse=True)  # newest first
            for execution_filter in self.param("Filters", []):
                executions = [e for e in executions if _executed(e, execution_filter)]
            selected, token = page(executions, self._get_param("NextToken"), limit)
            result: dict[str, Any] = {"WindowExecutions": [_execution(e) for e in selected]}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def get_maintenance_window_execution(self) -> ActionResult:
        with self.sim.lock:
            execution = self._execution()
            answer = _execution(execution)
            answer.pop("WindowId")
            answer["TaskIds"] = [t.id for t in execution.tasks]
            return ActionResult(answer)

    def describe_maintenance_window_execution_tasks(self) -> ActionResult:
        limit = max_results(self._get_param("MaxResults"), DEFAULT_PAGE, 10, 100)
        with self.sim.lock:
            execution = self._execution()
            tasks = [_task_identity(execution, t) for t in execution.tasks]
        tasks = _by_status(tasks, self.param("Filters", []))
        selected, token = page(tasks, self._get_param("NextToken"), limit)
        result: dict[str, Any] = {"WindowExecutionTaskIdentities": selected}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def get_maintenance_window_execution_task(self) -> ActionResult:
        with self.sim.lock:
            execution = self._execution()
            task = execution.task(self._get_param("TaskId"))
            definition = task.task
            answer = _task_identity(execution, task)
            answer.pop("TaskType")
            answer.update(
                ServiceRole=definition.run_command.get("ServiceRoleArn") or definition.service_role_arn,
                Type=definition.task_type,
                TaskParameters=[
                    {name: {"Values": values} for name, values in definition.document_parameters.items()}
                ],
                Priority=definition.priority,
                MaxConcurrency=definition.max_concurrency,
                MaxErrors=definition.max_errors,
            )
            return ActionResult(_present(answer))

    def describe_maintenance_window_execution_task_invocations(self) -> ActionResult:
        limit = max_results(self._get_param("MaxResults"), DEFAULT_PAGE, 10, 100)
        with self.sim.lock:
            execution = self._execution()
            task = execution.task(self._get_param("TaskId"))
            invocations = [_invocation(execution, task, i) for i in task.invocations]
        invocations = _by_status(invocations, self.param("Filters", []))
        selected, token = page(invocations, self._get_param("NextToken"), limit)
        result: dict[str, Any] = {"WindowExecutionTaskInvocationIdentities": selected}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def get_maintenance_window_execution_task_invocation(self) -> ActionResult:
        invocation_id = self._get_param("InvocationId")
        with self.sim.lock:
            execution = self._execution()
            task = execution.task(self._get_param("TaskId"))
            for invocation in task.invocations:
                if invocation.id == invocation_id:
                    return ActionResult(_invocation(execution, task, invocation))
        raise SsmError(
            "DoesNotExistException", f"Maintenance window task invocation {invocation_id} does not exist"
        )

    def cancel_maintenance_window_execution(self) -> ActionResult:
        with self.sim.lock:
            execution = self._execution()
            if not execution.final:
                window = self.sim.windows.get(self.current_account, self.region, execution.window_id)
                self.sim.runner.cancel(window, execution)
        return ActionResult({"WindowExecutionId": execution.id})

    def describe_maintenance_window_schedule(self) -> ActionResult:
        """Upcoming runs of one window (WindowId) or of the windows targeting given instances."""
        limit = max_results(self._get_param("MaxResults"), DEFAULT_PAGE, 1, 1000)
        after, before = self.sim.now, self.sim.now + SCHEDULE_HORIZON
        for schedule_filter in self.param("Filters", []):
            key, values = schedule_filter.get("Key"), schedule_filter.get("Values", [])
            if key not in ("ScheduledAfter", "ScheduledBefore") or len(values) != 1:
                raise invalid("Filters take ScheduledAfter or ScheduledBefore with one ISO-8601 value.")
            moment = _time(values[0])
            after, before = (
                (max(after, moment), before) if key == "ScheduledAfter" else (after, min(before, moment))
            )
        with self.sim.lock:
            if self._get_param("WindowId"):
                windows = [
                    self.sim.windows.get(self.current_account, self.region, self._get_param("WindowId"))
                ]
            else:
                wanted, hosts = instance_ids_of(self.param("Targets", [])), self.fleet_hosts()
                windows = [
                    w
                    for w in self.sim.windows.visible(self.current_account, self.region)
                    if wanted & window_instances(w, hosts)
                ]
            runs = []
            for window in windows:
                if not window.settings.enabled:
                    continue
                moment = max(after, window.scheduled_through)
                while (
                    len(runs) < 1000 and (moment := window.next_run(moment)) is not None and moment <= before
                ):
                    runs.append((moment, window))
        runs.sort(key=lambda r: r[0])
        scheduled = [
            {"WindowId": w.id, "Name": w.settings.name, "ExecutionTime": m.strftime("%Y-%m-%dT%H:%MZ")}
            for m, w in runs
        ]
        selected, token = page(scheduled, self._get_param("NextToken"), limit)
        result: dict[str, Any] = {"ScheduledWindowExecutions": selected}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def _execution(self) -> WindowExecution:
        return self.sim.windows.execution(
            self.current_account, self.region, self._get_param("WindowExecutionId")
        )


def _execution(execution: WindowExecution) -> dict[str, Any]:
    return _present(
        {
            "WindowId": execution.window_id,
            "WindowExecutionId": execution.id,
            "Status": execution.status,
            "StatusDetails": execution.status_details,
            "StartTime": execution.started,
            "EndTime": execution.ended,
        }
    )


def _task_identity(execution: WindowExecution, task: TaskExecution) -> dict[str, Any]:
    return _present(
        {
            "WindowExecutionId": execution.id,
            "TaskExecutionId": task.id,
            "Status": task.status,
            "StatusDetails": task.status_details,
            "StartTime": task.started,
            "EndTime": task.ended,
            "TaskArn": task.task.task_arn,
            "TaskType": task.task.task_type,
        }
    )


def _invocation(
    execution: WindowExecution, task: TaskExecution, invocation: TaskInvocation
) -> dict[str, Any]:
    return _present(
        {
            "WindowExecutionId": execution.id,
            "TaskExecutionId": task.id,
            "InvocationId": invocation.id,
            "ExecutionId": invocation.command.id if invocation.command else None,
            "TaskType": task.task.task_type,
            "Parameters": invocation.parameters,
            "Status": invocation.status,
            "StatusDetails": invocation.status_details,
            "StartTime": invocation.started,
            "EndTime": invocation.ended,
            "OwnerInformation": invocation.target.owner_information,
            "WindowTargetId": invocation.target.window_target_id,
        }
    )


def _executed(execution: WindowExecution, execution_filter: dict[str, Any]) -> bool:
    key, values = execution_filter.get("Key"), execution_filter.get("Values", [])
    if key not in ("ExecutedBefore", "ExecutedAfter") or len(values) != 1:
        raise invalid("Filters take ExecutedBefore or ExecutedAfter with one ISO-8601 value.")
    moment = _time(values[0])
    return execution.started <= moment if key == "ExecutedBefore" else execution.started >= moment


def _by_status(items: list[dict[str, Any]], filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for status_filter in filters:
        if status_filter.get("Key") != "Status":
            raise invalid(f"Filter key {status_filter.get('Key')} is not valid: use Status.")
        items = [i for i in items if i.get("Status") in status_filter.get("Values", [])]
    return items


def _time(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError:
        raise invalid(f"{text} is not an ISO-8601 date-time.") from None


def _present(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if value is not None and value != ""}
