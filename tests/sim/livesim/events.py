"""The EventBridge events SSM emits, as full envelopes (DOMAIN.md §4)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from .timeutil import iso_micros, iso_millis, iso_seconds


def envelope(
    detail_type: str, account: str, region: str, time: datetime, resources: list[str], detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.ssm",
        "account": account,
        "time": iso_seconds(time),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def invocation_status_change(
    *,
    account: str,
    region: str,
    time: datetime,
    instance_arn: str,
    command_id: str,
    document_name: str,
    instance_id: str,
    requested: datetime,
    status: str,
) -> dict[str, Any]:
    return envelope(
        "EC2 Command Invocation Status-change Notification",
        account,
        region,
        time,
        [instance_arn],
        {
            "command-id": command_id,
            "document-name": document_name,
            "instance-id": instance_id,
            "requested-date-time": iso_millis(requested),
            "status": status,
        },
    )


def command_status_change(
    *,
    account: str,
    region: str,
    time: datetime,
    instance_arns: list[str],
    command_id: str,
    document_name: str,
    expires: datetime,
    parameters: dict[str, list[str]],
    requested: datetime,
    status: str,
) -> dict[str, Any]:
    return envelope(
        "EC2 Command Status-change Notification",
        account,
        region,
        time,
        instance_arns,
        {
            "command-id": command_id,
            "document-name": document_name,
            "expire-after": iso_millis(expires),
            "parameters": {name: list(values) for name, values in parameters.items()},
            "requested-date-time": iso_millis(requested),
            "status": status,
        },
    )


def compliance_state_change(
    *,
    account: str,
    region: str,
    time: datetime,
    instance_arn: str,
    instance_id: str,
    status: str,
    severity: str,
    baseline_id: str,
) -> dict[str, Any]:
    return envelope(
        "Configuration Compliance State Change",
        account,
        region,
        time,
        [instance_arn],
        {
            "resource-type": "managed-instance",
            "resource-id": instance_id,
            "compliance-type": "Patch",
            "compliance-status": status,
            "severity": severity,
            "patch-baseline-id": baseline_id,
        },
    )


def window_execution_state_change(
    *,
    account: str,
    region: str,
    time: datetime,
    window_arn: str,
    window_id: str,
    window_execution_id: str,
    started: datetime,
    ended: datetime | None,
    status: str,
) -> dict[str, Any]:
    """Times with microseconds, as AWS's example shows. An execution that has not ended has no
    `end-time`: AWS documents only final examples, so a consumer must not rely on the key."""
    detail = {"start-time": iso_micros(started)}
    if ended is not None:
        detail["end-time"] = iso_micros(ended)
    detail.update({"window-id": window_id, "window-execution-id": window_execution_id, "status": status})
    return envelope(
        "Maintenance Window Execution State-change Notification", account, region, time, [window_arn], detail
    )


def task_execution_state_change(
    *,
    account: str,
    region: str,
    time: datetime,
    window_arn: str,
    window_id: str,
    window_execution_id: str,
    task_execution_id: str,
    started: datetime,
    ended: datetime | None,
    status: str,
) -> dict[str, Any]:
    detail = {"start-time": iso_micros(started), "task-execution-id": task_execution_id}
    if ended is not None:
        detail["end-time"] = iso_micros(ended)
    detail.update({"window-id": window_id, "window-execution-id": window_execution_id, "status": status})
    return envelope(
        "Maintenance Window Task Execution State-change Notification",
        account,
        region,
        time,
        [window_arn],
        detail,
    )
