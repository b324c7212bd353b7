"""Maintenance windows as SSM keeps them: settings, targets, tasks, tags, executions, client tokens.

livesim owns the whole model (moto 5.2.5 keeps windows that never run, has no Enabled,
no AllowUnassociatedTargets, no ClientToken and no executions). The operations in
`api/maintenance_windows.py` validate requests and call this store; `windowrun.py` runs
the executions.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from .errors import SsmError
from .host import Host
from .schedule import Schedule, ScheduleError, localize, parse_schedule, time_zone
from .targets import resolve_targets

if TYPE_CHECKING:
    from .windowrun import WindowExecution

NAME = re.compile(r"^[a-zA-Z0-9_\-.]{3,128}$")
# Quotas per account and region (DOMAIN.md §6).
MAX_WINDOWS = 50
MAX_TARGETS_PER_WINDOW = 100
MAX_TASKS_PER_WINDOW = 20


def does_not_exist(what: str) -> SsmError:
    return SsmError("DoesNotExistException", f"{what} does not exist")


@dataclass(frozen=True)
class WindowSettings:
    """What CreateMaintenanceWindow and UpdateMaintenanceWindow set."""

    name: str
    schedule: str
    duration: int
    cutoff: int
    allow_unassociated_targets: bool
    description: str | None = None
    schedule_timezone: str | None = None
    schedule_offset: int | None = None
    start_date: str | None = None
    end_date: str | None = None
    enabled: bool = True

    def validated(self, anchor: datetime) -> tuple[Schedule, datetime | None, datetime | None]:
        """The schedule and StartDate/EndDate instants, or the ValidationException SSM answers with."""
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise _invalid(f"Name {self.name!r} must match {NAME.pattern}.")
        if not isinstance(self.schedule, str) or not 1 <= len(self.schedule) <= 256:
            raise _invalid("Schedule must be 1 to 256 characters.")
        if not isinstance(self.allow_unassociated_targets, bool) or not isinstance(self.enabled, bool):
            raise _invalid("AllowUnassociatedTargets and Enabled must be true or false.")
        if self.description is not None and not 1 <= len(self.description) <= 128:
            raise _invalid("Description must be 1 to 128 characters.")
        if not isinstance(self.duration, int) or not 1 <= self.duration <= 24:
            raise _invalid("Duration must be between 1 and 24 hours.")
        if not isinstance(self.cutoff, int) or not 0 <= self.cutoff <= 23:
            raise _invalid("Cutoff must be between 0 and 23 hours.")
        if self.cutoff >= self.duration:
            raise _invalid("The cutoff must be less than the duration of the maintenance window.")
        if self.schedule_offset is not None and not 1 <= self.schedule_offset <= 6:
            raise _invalid("ScheduleOffset must be between 1 and 6 days.")
        try:
            zone = time_zone(self.schedule_timezone)
            start = _date(self.start_date, zone, "StartDate")
            end = _date(self.end_date, zone, "EndDate")
            schedule = parse_schedule(self.schedule, zone, self.schedule_offset, start or anchor)
        except ScheduleError as error:
            raise _invalid(str(error)) from None
        if start and end and end <= start:
            raise _invalid("EndDate must be later than StartDate.")
        return schedule, start, end


def _invalid(message: str) -> SsmError:
    return SsmError("ValidationException", message)


def _date(text: str | None, zone: tzinfo, field_name: str) -> datetime | None:
    """StartDate/EndDate: ISO-8601; without an offset, in the window's time zone."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ScheduleError(f"{field_name} {text!r} is not an ISO-8601 date-time.") from None
    return localize(parsed, zone) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass
class WindowTarget:
    id: str
    window_id: str
    resource_type: str
    targets: list[dict[str, Any]]
    owner_information: str | None
    name: str | None
    description: str | None

    def to_api(self) -> dict[str, Any]:
        return _present(
            {
                "WindowId": self.window_id,
                "WindowTargetId": self.id,
                "ResourceType": self.resource_type,
                "Targets": self.targets,
                "OwnerInformation": self.owner_information,
                "Name": self.name,
                "Description": self.description,
            }
        )


@dataclass
class WindowTask:
    id: str
    window_id: str
    task_type: str
    task_arn: str
    targets: list[dict[str, Any]]
    service_role_arn: str | None
    task_parameters: dict[str, Any] | None
    invocation_parameters: dict[str, Any] | None
    priority: int
    max_concurrency: str | None
    max_errors: str | None
    logging_info: dict[str, Any] | None
    name: str | None
    description: str | None
    cutoff_behavior: str | None
    alarm_configuration: dict[str, Any] | None

    @property
    def run_command(self) -> dict[str, Any]:
        return (self.invocation_parameters or {}).get("RunCommand") or {}

    @property
    def document_parameters(self) -> dict[str, list[str]]:
        """RunCommand.Parameters; the legacy TaskParameters ({name: {Values}}) otherwise."""
        if "Parameters" in self.run_command:
            return self.run_command["Parameters"]
        return {name: value.get("Values", []) for name, value in (self.task_parameters or {}).items()}

    def to_api(self, detailed: bool) -> dict[str, Any]:
        """DescribeMaintenanceWindowTasks (`Type`), or GetMaintenanceWindowTask (`TaskType`, invocation
        parameters)."""
        task = {
            "WindowId": self.window_id,
            "WindowTaskId": self.id,
            "TaskArn": self.task_arn,
            "Targets": self.targets,
            "TaskParameters": self.task_parameters,
            "Priority": self.priority,
            "LoggingInfo": self.logging_info,
            "ServiceRoleArn": self.service_role_arn,
            "MaxConcurrency": self.max_concurrency,
            "MaxErrors": self.max_errors,
            "Name": self.name,
            "Description": self.description,
            "CutoffBehavior": self.cutoff_behavior,
            "AlarmConfiguration": self.alarm_configuration,
        }
        if detailed:
            task["TaskType"] = self.task_type
            task["TaskInvocationParameters"] = self.invocation_parameters
        else:
            task["Type"] = self.task_type
        return _present(task)


@dataclass
class MaintenanceWindow:
    id: str
    account: str
    region: str
    settings: WindowSettings
    created: datetime
    # Occurrences up to here have been considered (fired or skipped): the clock may move back, and
    # a window never runs an occurrence twice, nor one from before it existed.
    scheduled_through: datetime
    modified: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    targets: dict[str, WindowTarget] = field(default_factory=dict)
    tasks: dict[str, WindowTask] = field(default_factory=dict)
    executions: list[WindowExecution] = field(default_factory=list)
    client_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # token: (request, id)
    _schedule: Schedule | None = None
    _start: datetime | None = None
    _end: datetime | None = None
    _next_run: tuple[datetime, datetime | None] | None = None  # (after, result) memo

    def __post_init__(self) -> None:
        self.apply(self.settings, self.created)

    def apply(self, settings: WindowSettings, now: datetime) -> None:
        """Validate and take new settings (raises ValidationException and keeps the old ones)."""
        schedule, start, end = settings.validated(self.created)
        self.settings, self._schedule, self._start, self._end = settings, schedule, start, end
        self.modified = now
        self._next_run = None

    @property
    def arn(self) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account}:maintenancewindow/{self.id}"

    def next_run(self, after: datetime) -> datetime | None:
        """The first occurrence later than `after`, inside StartDate/EndDate, enabled or not."""
        if self._next_run is not None and self._next_run[0] == after:
            return self._next_run[1]
        assert self._schedule is not None
        moment = after
        if self._start is not None and moment < self._start:
            moment = self._start - timedelta(microseconds=1)
        found = self._schedule.next_after(moment)
        if found is not None and self._end is not None and found > self._end:
            found = None
        self._next_run = (after, found)
        return found

    def next_execution_time(self, now: datetime) -> str | None:
        """NextExecutionTime as AWS prints it (`2020-02-19T16:00Z`); None when nothing is ahead."""
        if not self.settings.enabled:
            return None
        upcoming = self.next_run(max(now, self.scheduled_through))
        return upcoming.strftime("%Y-%m-%dT%H:%MZ") if upcoming else None

    def identity(self, now: datetime) -> dict[str, Any]:
        """MaintenanceWindowIdentity (DescribeMaintenanceWindows)."""
        s = self.settings
        return _present(
            {
                "WindowId": self.id,
                "Name": s.name,
                "Description": s.description,
                "Enabled": s.enabled,
                "Duration": s.duration,
                "Cutoff": s.cutoff,
                "Schedule": s.schedule,
                "ScheduleTimezone": s.schedule_timezone,
                "ScheduleOffset": s.schedule_offset,
                "EndDate": s.end_date,
                "StartDate": s.start_date,
                "NextExecutionTime": self.next_execution_time(now),
            }
        )

    def to_get_api(self, now: datetime) -> dict[str, Any]:
        window = self.identity(now)
        window.update(
            AllowUnassociatedTargets=self.settings.allow_unassociated_targets,
            CreatedDate=self.created,
            ModifiedDate=self.modified,
        )
        return window

    def update_api(self) -> dict[str, Any]:
        """UpdateMaintenanceWindow's answer: the settings, no dates."""
        s = self.settings
        return _present(
            {
                "WindowId": self.id,
                "Name": s.name,
                "Description": s.description,
                "StartDate": s.start_date,
                "EndDate": s.end_date,
                "Schedule": s.schedule,
                "ScheduleTimezone": s.schedule_timezone,
                "ScheduleOffset": s.schedule_offset,
                "Duration": s.duration,
                "Cutoff": s.cutoff,
                "AllowUnassociatedTargets": s.allow_unassociated_targets,
                "Enabled": s.enabled,
            }
        )


class WindowStore:
    """Every window of every account and region, with CreateMaintenanceWindow's client tokens."""

    def __init__(self) -> None:
        self.windows: dict[str, MaintenanceWindow] = {}
        self._client_tokens: dict[tuple[str, str, str], tuple[str, str]] = {}

    def visible(self, account: str, region: str) -> list[MaintenanceWindow]:
        return [w for w in self.windows.values() if (w.account, w.region) == (account, region)]

    def get(self, account: str, region: str, window_id: str | None) -> MaintenanceWindow:
        window = self.windows.get(window_id or "")
        if window is None or (window.account, window.region) != (account, region):
            raise does_not_exist(f"Maintenance window {window_id}")
        return window

    def create(
        self,
        account: str,
        region: str,
        settings: WindowSettings,
        tags: dict[str, str],
        client_token: str | None,
        request: dict[str, Any],
        now: datetime,
    ) -> MaintenanceWindow:
        """A new window; the same ClientToken with the same request gives the same window back."""
        key = (account, region, client_token or "")
        if client_token and key in self._client_tokens:
            window_id = replayed(self._client_tokens[key], request)
            if window_id in self.windows:
                return self.windows[window_id]
            # The window was deleted since: the token no longer names anything, so create anew.
        if len(self.visible(account, region)) >= MAX_WINDOWS:
            raise SsmError(
                "ResourceLimitExceededException",
                f"Maximum number of maintenance windows ({MAX_WINDOWS}) reached for this account and region.",
            )
        window = MaintenanceWindow(new_window_id(), account, region, settings, now, now, tags=dict(tags))
        self.windows[window.id] = window
        if client_token:
            self._client_tokens[key] = (fingerprint(request), window.id)
        return window

    def delete(self, window: MaintenanceWindow) -> None:
        del self.windows[window.id]

    def execution(self, account: str, region: str, execution_id: str | None) -> WindowExecution:
        for window in self.visible(account, region):
            for execution in window.executions:
                if execution.id == execution_id:
                    return execution
        raise does_not_exist(f"Maintenance window execution {execution_id}")


def register_target(window: MaintenanceWindow, target: WindowTarget, token: str | None, request: dict) -> str:
    """Add a target (idempotent on ClientToken); its ID."""
    if token and token in window.client_tokens:
        return replayed(window.client_tokens[token], request)
    if len(window.targets) >= MAX_TARGETS_PER_WINDOW:
        raise SsmError(
            "ResourceLimitExceededException",
            f"Maximum number of targets ({MAX_TARGETS_PER_WINDOW}) reached for window {window.id}.",
        )
    window.targets[target.id] = target
    if token:
        window.client_tokens[token] = (fingerprint(request), target.id)
    return target.id


def register_task(window: MaintenanceWindow, task: WindowTask, token: str | None, request: dict) -> str:
    """Add a task (idempotent on ClientToken); its ID."""
    if token and token in window.client_tokens:
        return replayed(window.client_tokens[token], request)
    if len(window.tasks) >= MAX_TASKS_PER_WINDOW:
        raise SsmError(
            "ResourceLimitExceededException",
            f"Maximum number of tasks ({MAX_TASKS_PER_WINDOW}) reached for window {window.id}.",
        )
    window.tasks[task.id] = task
    if token:
        window.client_tokens[token] = (fingerprint(request), task.id)
    return task.id


def window_instances(window: MaintenanceWindow, fleet_hosts: list[Host]) -> set[str]:
    """The instances the window's registered targets name: listed IDs as given, tags against the fleet."""
    found: set[str] = set()
    for target in window.targets.values():
        found |= set(target_instances(target.targets, fleet_hosts))
    return found


def target_instances(targets: list[dict[str, Any]], fleet_hosts: list[Host]) -> list[str]:
    """A window target's instances. IDs it lists alone are taken as they are, even unknown or
    unmanaged ones (their invocations fail, as in AWS); tags resolve against the fleet."""
    listed = [v for t in targets if t.get("Key") == "InstanceIds" for v in t.get("Values", [])]
    if listed and len(targets) == 1:
        return listed
    return [h.id for h in resolve_targets(fleet_hosts, targets)]


def fingerprint(request: dict[str, Any]) -> str:
    """The request without its token, to tell a retry from a different request with the same token."""
    return json.dumps({k: v for k, v in request.items() if k != "ClientToken"}, sort_keys=True)


def replayed(remembered: tuple[str, str], request: dict[str, Any]) -> str:
    """The ID a retried request gets; IdempotentParameterMismatch when the token was used otherwise."""
    original, resource_id = remembered
    if original != fingerprint(request):
        raise SsmError(
            "IdempotentParameterMismatch",
            "Error: An earlier request with the same client token had different parameters.",
        )
    return resource_id


def new_window_id() -> str:
    return "mw-" + "".join(random.choice("0123456789abcdef") for _ in range(17))


def new_id() -> str:
    return str(uuid.uuid4())


def with_changes(settings: WindowSettings, changes: dict[str, Any], replace_all: bool) -> WindowSettings:
    """UpdateMaintenanceWindow: given fields change; with Replace, the optional others are cleared."""
    if replace_all:
        required = ("name", "schedule", "duration", "cutoff", "allow_unassociated_targets")
        missing = [name for name in required if changes.get(name) is None]
        if missing:
            raise _invalid(f"With Replace, every required field must be given: missing {', '.join(missing)}.")
        return WindowSettings(**{k: v for k, v in changes.items() if v is not None})
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})


def _present(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if value is not None}
