"""JSON views of simulation state for the control API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .host import Host
from .maintenance import MaintenanceWindow
from .patchstate import STATE_SPELLINGS
from .timeutil import iso_seconds
from .windowrun import TaskExecution, WindowExecution


def host_view(host: Host, now: datetime) -> dict[str, Any]:
    return {
        "id": host.id,
        "name": host.name,
        "platform": host.platform.key,
        "platform_version": host.platform.version,
        "arch": host.arch,
        "kernel": str(host.kernel.release),
        "kernel_built": iso_seconds(host.kernel.built),
        "uname_v": host.kernel.uname_v,
        "booted": iso_seconds(host.booted),
        "pending_kernel": str(host.pending_kernel.release) if host.pending_kernel else None,
        "livepatch": {
            "plugin": host.livepatch_plugin,
            "kpatch_service": host.kpatch_service,
            "installed_package": str(host.livepatch.package) if host.livepatch else None,
            "installed_modules": host.installed_modules,
            "loaded_modules": [m for m in host.installed_modules if m in host.loaded_modules],
            "load_failed": host.livepatch_load_failed,
        },
        "support_end": host.kernel.support_end.isoformat() if host.platform.is_amazon_linux else None,
        "support_ended": host.platform.is_amazon_linux and now.date() > host.kernel.support_end,
        "patch_compliance": _compliance(host),
        "missing_packages": [str(p.package) for p in host.missing_packages],
        "pending_reboot_packages": [
            str(p.package.package) for p in host.installed_packages if p.pending_reboot
        ],
        "managed": host.managed,
        "state": host.state,
        "agent": host.agent,
        "tags": host.tags,
        "patch_group": host.patch_group,
        "failure": host.failure,
    }


def _compliance(host: Host) -> dict[str, Any]:
    state = host.patch_state
    if state is None:
        return {"status": "not_scanned"}
    counts = {f"{spelling.lower()}_count": state.count(name) for name, spelling in STATE_SPELLINGS.items()}
    return {
        "status": state.compliance_status,
        "operation": state.operation,
        "time": iso_seconds(state.ended),
        "baseline_id": state.baseline_id,
        **counts,
    }


def window_view(window: MaintenanceWindow, now: datetime) -> dict[str, Any]:
    """A window with its targets, tasks and every execution down to the commands it sent."""
    settings = window.settings
    return {
        "window_id": window.id,
        "name": settings.name,
        "account": window.account,
        "region": window.region,
        "enabled": settings.enabled,
        "schedule": settings.schedule,
        "schedule_timezone": settings.schedule_timezone,
        "schedule_offset": settings.schedule_offset,
        "start_date": settings.start_date,
        "end_date": settings.end_date,
        "duration": settings.duration,
        "cutoff": settings.cutoff,
        "allow_unassociated_targets": settings.allow_unassociated_targets,
        "next_execution_time": window.next_execution_time(now),
        "tags": window.tags,
        "targets": [t.to_api() for t in window.targets.values()],
        "tasks": [t.to_api(detailed=True) for t in window.tasks.values()],
        "executions": [execution_view(e) for e in window.executions],
    }


def execution_view(execution: WindowExecution) -> dict[str, Any]:
    return {
        "window_execution_id": execution.id,
        "status": execution.status,
        "status_details": execution.status_details,
        "start_time": iso_seconds(execution.started),
        "end_time": iso_seconds(execution.ended) if execution.ended else None,
        "tasks": [_task_execution_view(t) for t in execution.tasks],
    }


def _task_execution_view(task: TaskExecution) -> dict[str, Any]:
    return {
        "task_execution_id": task.id,
        "window_task_id": task.task.id,
        "task_arn": task.task.task_arn,
        "status": task.status,
        "status_details": task.status_details,
        "start_time": iso_seconds(task.started) if task.started else None,
        "end_time": iso_seconds(task.ended) if task.ended else None,
        "not_invoked": [t.instance_id for t in task.queue],
        "invocations": [
            {
                "invocation_id": i.id,
                "instance_id": i.target.instance_id,
                "window_target_id": i.target.window_target_id,
                "command_id": i.command.id if i.command else None,
                "status": i.status,
                "status_details": i.status_details,
            }
            for i in task.invocations
        ],
    }
