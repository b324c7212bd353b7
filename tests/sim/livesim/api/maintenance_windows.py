"""Maintenance windows, their targets, tasks and tags, over livesim's own store (`maintenance.py`).

moto 5.2.5 keeps windows that never run, ignores ClientToken, Enabled and
AllowUnassociatedTargets, pages nothing and filters only by Name: every window
operation is replaced here, and the executions are in `window_executions.py`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.responses import ActionResult, EmptyResult

from ..errors import SsmError
from ..maintenance import (
    NAME,
    MaintenanceWindow,
    WindowSettings,
    WindowTarget,
    WindowTask,
    does_not_exist,
    new_id,
    register_target,
    register_task,
    window_instances,
    with_changes,
)
from ..targets import check_target_keys
from .base import SimulatedOperations
from .pagination import max_results, page

MAX_CONCURRENCY = re.compile(r"^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$")
MAX_ERRORS = re.compile(r"^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$")
TASK_TYPES = ("RUN_COMMAND", "AUTOMATION", "STEP_FUNCTIONS", "LAMBDA")
CUTOFF_BEHAVIORS = ("CONTINUE_TASK", "CANCEL_TASK")
DEFAULT_PAGE = 10  # small on purpose: a caller that ignores NextToken shows up in tests
WINDOW = "MaintenanceWindow"
MAX_TAGS = 50  # tags one resource may carry (an AWS limit)

_SETTINGS = {  # request field -> WindowSettings field
    "Name": "name",
    "Description": "description",
    "StartDate": "start_date",
    "EndDate": "end_date",
    "Schedule": "schedule",
    "ScheduleTimezone": "schedule_timezone",
    "ScheduleOffset": "schedule_offset",
    "Duration": "duration",
    "Cutoff": "cutoff",
    "AllowUnassociatedTargets": "allow_unassociated_targets",
    "Enabled": "enabled",
}


def invalid(message: str) -> SsmError:
    return SsmError("ValidationException", message)


class MaintenanceWindowOperations(SimulatedOperations):
    # -- windows -------------------------------------------------------------------------
    def create_maintenance_window(self) -> ActionResult:
        request = self._request()
        for required in ("Name", "Schedule", "Duration", "Cutoff", "AllowUnassociatedTargets"):
            if request.get(required) is None:
                raise invalid(f"{required} is required.")
        settings = WindowSettings(**{_SETTINGS[k]: v for k, v in request.items() if k in _SETTINGS})
        token = _client_token(request)
        tags = _tags(request.get("Tags", []))
        _check_tag_count(request.get("Name", ""), tags)
        with self.sim.lock:
            window = self.sim.windows.create(
                self.current_account,
                self.region,
                settings,
                tags,
                token,
                request,
                self.sim.now,
            )
        return ActionResult({"WindowId": window.id})

    def update_maintenance_window(self) -> ActionResult:
        request = self._request()
        changes = {field: request.get(key) for key, field in _SETTINGS.items()}
        with self.sim.lock:
            window = self._window()
            window.apply(with_changes(window.settings, changes, bool(request.get("Replace"))), self.sim.now)
            return ActionResult(window.update_api())

    def get_maintenance_window(self) -> ActionResult:
        with self.sim.lock:
            return ActionResult(self._window().to_get_api(self.sim.now))

    def describe_maintenance_windows(self) -> ActionResult:
        limit = max_results(self._get_param("MaxResults"), DEFAULT_PAGE, 10, 100)
        with self.sim.lock:
            windows = self.sim.windows.visible(self.current_account, self.region)
            for window_filter in self.param("Filters", []):
                windows = [w for w in windows if _window_matches(w, window_filter)]
            selected, token = page(windows, self._get_param("NextToken"), limit)
            result: dict[str, Any] = {"WindowIdentities": [w.identity(self.sim.now) for w in selected]}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def delete_maintenance_window(self) -> ActionResult:
        with self.sim.lock:
            window = self._window()
            self.sim.windows.delete(window)
        return ActionResult({"WindowId": window.id})

    def describe_maintenance_windows_for_target(self) -> ActionResult:
        """Windows whose registered targets include the given instances (ResourceType INSTANCE)."""
        if self._get_param("ResourceType") != "INSTANCE":
            raise invalid(
                "livesim answers DescribeMaintenanceWindowsForTarget for ResourceType INSTANCE only."
            )
        limit = max_results(self._get_param("MaxResults"), DEFAULT_PAGE, 1, 1000)
        with self.sim.lock:
            wanted, hosts = instance_ids_of(self.param("Targets", [])), self.fleet_hosts()
            windows = [
                {"WindowId": w.id, "Name": w.settings.name}
                for w in self.sim.windows.visible(self.current_account, self.region)
                if wanted & window_instances(w, hosts)
            ]
        selected, token = page(windows, self._get_param("NextToken"), limit)
        result: dict[str, Any] = {"WindowIdentities": selected}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    # -- targets -------------------------------------------------------------------------
    def register_target_with_maintenance_window(self) -> ActionResult:
        request = self._request()
        resource_type = request.get("ResourceType")
        if resource_type == "RESOURCE_GROUP":
            raise invalid("livesim does not simulate RESOURCE_GROUP targets; use INSTANCE.")
        if resource_type != "INSTANCE":
            raise invalid(f"ResourceType {resource_type!r} must be INSTANCE or RESOURCE_GROUP.")
        targets = _targets(request.get("Targets"), required=True)
        check_target_keys(targets)
        _check_labels(request)
        with self.sim.lock:
            window = self._window()
            target = WindowTarget(
                new_id(),
                window.id,
                resource_type,
                targets,
                request.get("OwnerInformation"),
                request.get("Name"),
                request.get("Description"),
            )
            target_id = register_target(window, target, _client_token(request), request)
        return ActionResult({"WindowTargetId": target_id})

    def update_maintenance_window_target(self) -> ActionResult:
        request = self._request()
        replace_all = bool(request.get("Replace"))
        _check_labels(request)
        with self.sim.lock:
            window = self._window()
            target = self._target(window, request.get("WindowTargetId"))
            if request.get("Targets") is not None or replace_all:
                targets = _targets(request.get("Targets"), required=True)
                check_target_keys(targets)
                target.targets = targets
            for key, attribute in (("OwnerInformation", "owner_information"), ("Name", "name")):
                if request.get(key) is not None or replace_all:
                    setattr(target, attribute, request.get(key))
            if request.get("Description") is not None or replace_all:
                target.description = request.get("Description")
            answer = target.to_api()
            answer.pop("ResourceType")
            return ActionResult(answer)

    def deregister_target_from_maintenance_window(self) -> ActionResult:
        with self.sim.lock:
            window = self._window()
            target = self._target(window, self._get_param("WindowTargetId"))
            users = [t.id for t in window.tasks.values() if _task_uses(t, target.id)]
            if users and self._get_param("Safe"):
                raise SsmError(
                    "TargetInUseException",
                    f"Target {target.id} is referenced by task(s) {', '.join(users)}.",
                )
            del window.targets[target.id]
        return ActionResult({"WindowId": window.id, "WindowTargetId": target.id})

    def describe_maintenance_window_targets(self) -> ActionResult:
        limit = max_results(self._get_param("MaxResults"), DEFAULT_PAGE, 10, 100)
        with self.sim.lock:
            targets = [t.to_api() for t in self._window().targets.values()]
        keys = {
            "WindowTargetId": "WindowTargetId",
            "OwnerInformation": "OwnerInformation",
            "Type": "ResourceType",
        }
        targets = _filtered(targets, self.param("Filters", []), keys)
        selected, token = page(targets, self._get_param("NextToken"), limit)
        result: dict[str, Any] = {"Targets": selected}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    # -- tasks ----------------------------------------------------------------------------
    def register_task_with_maintenance_window(self) -> ActionResult:
        request = self._request()
        task_type = request.get("TaskType")
        if task_type not in TASK_TYPES:
            raise invalid(f"TaskType {task_type!r} must be one of {', '.join(TASK_TYPES)}.")
        if not request.get("TaskArn"):
            raise invalid("TaskArn is required.")
        targets = _targets(request.get("Targets"), required=task_type == "RUN_COMMAND")
        _check_task(request, task_type)
        _check_labels(request)
        with self.sim.lock:
            window = self._window()
            _check_task_targets(window, targets)
            task = WindowTask(
                id=new_id(),
                window_id=window.id,
                task_type=task_type,
                task_arn=request["TaskArn"],
                targets=targets,
                service_role_arn=request.get("ServiceRoleArn"),
                task_parameters=request.get("TaskParameters"),
                invocation_parameters=request.get("TaskInvocationParameters"),
                priority=request.get("Priority", 1),
                max_concurrency=request.get("MaxConcurrency"),
                max_errors=request.get("MaxErrors"),
                logging_info=request.get("LoggingInfo"),
                name=request.get("Name"),
                description=request.get("Description"),
                cutoff_behavior=request.get("CutoffBehavior"),
                alarm_configuration=request.get("AlarmConfiguration"),
            )
            task_id = register_task(window, task, _client_token(request), request)
        return ActionResult({"WindowTaskId": task_id})

    def deregister_task_from_maintenance_window(self) -> ActionResult:
        with self.sim.lock:
            window = self._window()
            task = self._task(window, self._get_param("WindowTaskId"))
            del window.tasks[task.id]
        return ActionResult({"WindowId": window.id, "WindowTaskId": task.id})

    def describe_maintenance_window_tasks(self) -> ActionResult:
        limit = max_results(self._get_param("MaxResults"), DEFAULT_PAGE, 10, 100)
        with self.sim.lock:
            tasks = [t.to_api(detailed=False) for t in self._window().tasks.values()]
        keys = {
            "WindowTaskId": "WindowTaskId",
            "TaskArn": "TaskArn",
            "Priority": "Priority",
            "TaskType": "Type",
        }
        tasks = _filtered(tasks, self.param("Filters", []), keys)
        selected, token = page(tasks, self._get_param("NextToken"), limit)
        result: dict[str, Any] = {"Tasks": selected}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def get_maintenance_window_task(self) -> ActionResult:
        with self.sim.lock:
            task = self._task(self._window(), self._get_param("WindowTaskId"))
            return ActionResult(task.to_api(detailed=True))

    # -- tags (other resource types go on to the next operations in line) ---------------------
    def list_tags_for_resource(self) -> ActionResult:
        if self._get_param("ResourceType") != WINDOW:
            return super().list_tags_for_resource()
        with self.sim.lock:
            window = self._tagged_window()
            return ActionResult({"TagList": [{"Key": k, "Value": v} for k, v in window.tags.items()]})

    def add_tags_to_resource(self) -> ActionResult:
        if self._get_param("ResourceType") != WINDOW:
            return super().add_tags_to_resource()
        tags = _tags(self.param("Tags", []))
        with self.sim.lock:
            window = self._tagged_window()
            _check_tag_count(window.id, {**window.tags, **tags})
            window.tags.update(tags)
        return EmptyResult()

    def remove_tags_from_resource(self) -> ActionResult:
        if self._get_param("ResourceType") != WINDOW:
            return super().remove_tags_from_resource()
        with self.sim.lock:
            window = self._tagged_window()
            for key in self.param("TagKeys", []):
                window.tags.pop(key, None)
        return EmptyResult()

    # -- helpers ----------------------------------------------------------------------------
    def _request(self) -> dict[str, Any]:
        """The request as sent: ClientToken compares whole requests."""
        return json.loads(self.body or "{}")

    def _window(self) -> MaintenanceWindow:
        return self.sim.windows.get(self.current_account, self.region, self._get_param("WindowId"))

    def _tagged_window(self) -> MaintenanceWindow:
        try:
            return self.sim.windows.get(self.current_account, self.region, self._get_param("ResourceId"))
        except SsmError:
            raise SsmError(
                "InvalidResourceId", "The resource ID is not valid. Verify the ID and try again."
            ) from None

    @staticmethod
    def _target(window: MaintenanceWindow, target_id: str | None) -> WindowTarget:
        target = window.targets.get(target_id or "")
        if target is None:
            raise does_not_exist(f"Maintenance window target {target_id}")
        return target

    @staticmethod
    def _task(window: MaintenanceWindow, task_id: str | None) -> WindowTask:
        task = window.tasks.get(task_id or "")
        if task is None:
            raise does_not_exist(f"Maintenance window task {task_id}")
        return task


def instance_ids_of(targets: list[dict[str, Any]]) -> set[str]:
    """The instances a `Targets` parameter names (livesim takes InstanceIds only there)."""
    if any(t.get("Key") != "InstanceIds" for t in targets):
        raise invalid("livesim takes InstanceIds targets only here.")
    return {v for t in targets for v in t.get("Values", [])}


def _window_matches(window: MaintenanceWindow, window_filter: dict[str, Any]) -> bool:
    key, values = window_filter.get("Key"), window_filter.get("Values", [])
    if key == "Name":
        return window.settings.name in values
    if key == "Enabled":
        return str(window.settings.enabled).lower() in [v.lower() for v in values]
    raise invalid(f"Filter key {key} is not valid for DescribeMaintenanceWindows: use Name or Enabled.")


def _filtered(items: list[dict[str, Any]], filters: list[dict[str, Any]], keys: dict[str, str]) -> list[dict]:
    for item_filter in filters:
        key = item_filter.get("Key")
        if key not in keys:
            raise invalid(f"Filter key {key} is not valid: use {', '.join(keys)}.")
        values = item_filter.get("Values", [])
        items = [i for i in items if str(i.get(keys[key])) in values]
    return items


def _client_token(request: dict[str, Any]) -> str | None:
    token = request.get("ClientToken")
    if token is not None and not (isinstance(token, str) and 1 <= len(token) <= 64):
        raise invalid("ClientToken must be 1 to 64 characters.")
    return token


def _check_tag_count(resource: str, tags: dict[str, str]) -> None:
    """A window carries at most MAX_TAGS tags, whether given at creation or added later."""
    if len(tags) > MAX_TAGS:
        raise SsmError(
            "TooManyTagsError",
            f"The resource {resource} would have more than {MAX_TAGS} tags. Remove one or more "
            "tags and try the command again.",
        )


def _tags(tags: list[dict[str, Any]]) -> dict[str, str]:
    for tag in tags:
        key, value = tag.get("Key"), tag.get("Value")
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise invalid(f"Tag key {key!r} must be 1 to 128 characters and not start with aws:.")
        if not isinstance(value, str) or len(value) > 256:
            raise invalid(f"Tag value {value!r} of {key} must be at most 256 characters.")
    return {tag["Key"]: tag["Value"] for tag in tags}


def _targets(targets: Any, required: bool) -> list[dict[str, Any]]:
    targets = targets or []
    if required and not targets:
        raise invalid("Targets are required.")
    if len(targets) > 5:
        raise invalid("At most 5 targets can be given.")
    for target in targets:
        if not target.get("Key") or len(target.get("Values", [])) > 50:
            raise invalid("Each target needs a Key and at most 50 Values.")
    return targets


def _check_labels(request: dict[str, Any]) -> None:
    name = request.get("Name")
    if name is not None and not NAME.match(name):
        raise invalid(f"Name {name!r} must match {NAME.pattern}.")
    for key in ("Description", "OwnerInformation"):
        value = request.get(key)
        if value is not None and not 1 <= len(value) <= 128:
            raise invalid(f"{key} must be 1 to 128 characters.")


def _check_task(request: dict[str, Any], task_type: str) -> None:
    concurrency, errors = request.get("MaxConcurrency"), request.get("MaxErrors")
    if task_type == "RUN_COMMAND" and (concurrency is None or errors is None):
        raise invalid("MaxConcurrency and MaxErrors are required for a RUN_COMMAND task with targets.")
    if concurrency is not None and not MAX_CONCURRENCY.match(concurrency):
        raise invalid(f"MaxConcurrency {concurrency!r} must match {MAX_CONCURRENCY.pattern}.")
    if errors is not None and not MAX_ERRORS.match(errors):
        raise invalid(f"MaxErrors {errors!r} must match {MAX_ERRORS.pattern}.")
    priority = request.get("Priority", 1)
    if not isinstance(priority, int) or priority < 0:
        raise invalid("Priority must be 0 or more.")
    behavior = request.get("CutoffBehavior")
    if behavior is not None and behavior not in CUTOFF_BEHAVIORS:
        raise invalid(f"CutoffBehavior must be one of {', '.join(CUTOFF_BEHAVIORS)}.")
    run_command = (request.get("TaskInvocationParameters") or {}).get("RunCommand") or {}
    timeout = run_command.get("TimeoutSeconds")
    if timeout is not None and not 30 <= timeout <= 2592000:
        raise invalid("RunCommand.TimeoutSeconds must be between 30 and 2592000.")
    if len(run_command.get("Comment", "")) > 100:
        raise invalid("RunCommand.Comment must be at most 100 characters.")


def _check_task_targets(window: MaintenanceWindow, targets: list[dict[str, Any]]) -> None:
    """WindowTargetIds must be registered; instances named directly need AllowUnassociatedTargets."""
    for target in targets:
        key, values = target.get("Key"), target.get("Values", [])
        if key == "WindowTargetIds":
            for value in values:
                if value not in window.targets:
                    raise does_not_exist(f"Maintenance window target {value}")
        elif key == "InstanceIds":
            if not window.settings.allow_unassociated_targets:
                raise invalid(
                    f"Window {window.id} does not allow unassociated targets: register the instances as "
                    "window targets and use WindowTargetIds."
                )
        else:
            raise invalid(f"Task target key {key} must be WindowTargetIds or InstanceIds.")


def _task_uses(task: WindowTask, target_id: str) -> bool:
    return any(t.get("Key") == "WindowTargetIds" and target_id in t.get("Values", []) for t in task.targets)
