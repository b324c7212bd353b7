"""Maintenance windows in livesim, driven with boto3 the way the plan-reboots function books them."""

from __future__ import annotations

import json
import urllib.error
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import SimServer, load_fleet
from test_livesim import API, BATCH, WEB, error_code, events

REBOOT_PARAMETERS = {"Operation": ["Install"], "RebootOption": ["RebootIfNeeded"]}
EXECUTION_CHANGE = "Maintenance Window Execution State-change Notification"
TASK_CHANGE = "Maintenance Window Task Execution State-change Notification"
# reboots.json
WEB_1 = "i-0c5e1a7b9d3f20003"  # AL2 5.10.241, web-asg
REPORTS_1 = "i-0c5e1a7b9d3f20001"  # AL2 5.10.240, live patch support ended 2026-11-24


def create_window(ssm: Any, schedule: str, timezone: str | None = "Europe/Berlin", **kwargs: Any) -> str:
    request: dict[str, Any] = {
        "Name": "livepatch-autopilot-reboot-test",
        "Schedule": schedule,
        "Duration": 3,
        "Cutoff": 1,
        "AllowUnassociatedTargets": False,
        **kwargs,
    }
    if timezone:
        request["ScheduleTimezone"] = timezone
    return ssm.create_maintenance_window(**request)["WindowId"]


def book_reboot(
    ssm: Any,
    schedule: str,
    targets: list[dict[str, Any]],
    timezone: str | None = "Europe/Berlin",
    max_concurrency: str = "1",
    max_errors: str = "0",
    **kwargs: Any,
) -> tuple[str, str, str]:
    """A reboot booking as plan-reboots makes it: window, one target, an Install+RebootIfNeeded task."""
    window_id = create_window(ssm, schedule, timezone, **kwargs)
    target_id = ssm.register_target_with_maintenance_window(
        WindowId=window_id, ResourceType="INSTANCE", Targets=targets, OwnerInformation="reboot"
    )["WindowTargetId"]
    task_id = ssm.register_task_with_maintenance_window(
        WindowId=window_id,
        TaskType="RUN_COMMAND",
        TaskArn="AWS-RunPatchBaseline",
        Targets=[{"Key": "WindowTargetIds", "Values": [target_id]}],
        TaskInvocationParameters={"RunCommand": {"Parameters": REBOOT_PARAMETERS}},
        MaxConcurrency=max_concurrency,
        MaxErrors=max_errors,
        Priority=1,
    )["WindowTaskId"]
    return window_id, target_id, task_id


def instance_ids(*ids: str) -> list[dict[str, Any]]:
    return [{"Key": "InstanceIds", "Values": list(ids)}]


def executions(ssm: Any, window_id: str) -> list[dict[str, Any]]:
    return ssm.describe_maintenance_window_executions(WindowId=window_id)["WindowExecutions"]


def invocations(ssm: Any, execution_id: str) -> list[dict[str, Any]]:
    (task,) = ssm.describe_maintenance_window_execution_tasks(WindowExecutionId=execution_id)[
        "WindowExecutionTaskIdentities"
    ]
    return ssm.describe_maintenance_window_execution_task_invocations(
        WindowExecutionId=execution_id, TaskId=task["TaskExecutionId"]
    )["WindowExecutionTaskInvocationIdentities"]


def iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- scheduling ------------------------------------------------------------------------------
def test_at_window_in_berlin_runs_at_its_utc_instant_and_not_before(sim: SimServer, ssm: Any) -> None:
    window_id, _, _ = book_reboot(ssm, "at(2026-12-10T03:00:00)", instance_ids(WEB))
    assert ssm.get_maintenance_window(WindowId=window_id)["NextExecutionTime"] == "2026-12-10T02:00Z"
    moved = sim.post("/_sim/clock", {"now": "2026-12-10T01:59:59Z"})
    assert moved["windows_started"] == [] and executions(ssm, window_id) == []

    advanced = sim.post("/_sim/clock/advance", {"to": "2026-12-10T06:00:00Z", "step_minutes": 60})
    (started,) = advanced["windows_started"]
    assert (started["window_id"], started["start_time"], started["status"]) == (
        window_id,
        "2026-12-10T02:00:00Z",  # 03:00 in Berlin, not on a step boundary
        "SUCCESS",
    )
    (execution,) = executions(ssm, window_id)
    assert execution["WindowExecutionId"] == started["window_execution_id"]
    assert iso(execution["StartTime"]) == "2026-12-10T02:00:00Z"
    (invocation,) = invocations(ssm, execution["WindowExecutionId"])
    (command,) = ssm.list_commands(CommandId=invocation["ExecutionId"])["Commands"]
    assert iso(command["RequestedDateTime"]) == "2026-12-10T02:00:00Z"
    assert command["Comment"] == f"Maintenance window livepatch-autopilot-reboot-test ({window_id})"
    assert command["Parameters"] == REBOOT_PARAMETERS  # no SnapshotId inside a window
    assert json.loads(invocation["Parameters"])["instanceIds"] == [WEB]
    assert ssm.get_maintenance_window(WindowId=window_id).get("NextExecutionTime") is None
    sim.post("/_sim/clock/advance", {"to": "2026-12-20T06:00:00Z", "step_minutes": 1440})
    assert len(executions(ssm, window_id)) == 1  # one-time


def test_weekly_cron_follows_daylight_saving_time(sim: SimServer, ssm: Any) -> None:
    sim.post("/_sim/clock", {"now": "2027-03-20T00:00:00Z"})
    window_id = create_window(ssm, "cron(0 3 ? * SUN *)")  # no tasks: each run succeeds at once
    expected = ["2027-03-21T02:00Z", "2027-03-28T01:00Z", "2027-04-04T01:00Z"]  # CET, then CEST
    schedule = ssm.describe_maintenance_window_schedule(
        WindowId=window_id, Filters=[{"Key": "ScheduledBefore", "Values": ["2027-04-05T00:00:00Z"]}]
    )["ScheduledWindowExecutions"]
    assert [s["ExecutionTime"] for s in schedule] == expected
    advanced = sim.post("/_sim/clock/advance", {"to": "2027-04-05T00:00:00Z", "step_minutes": 1440})
    assert [s["start_time"] for s in advanced["windows_started"]] == [
        "2027-03-21T02:00:00Z",
        "2027-03-28T01:00:00Z",
        "2027-04-04T01:00:00Z",
    ]
    assert [e["Status"] for e in executions(ssm, window_id)] == ["SUCCESS"] * 3
    sim.post("/_sim/clock", {"now": "2027-03-01T00:00:00Z"})  # back in time, then forward again
    sim.post("/_sim/clock/advance", {"to": "2027-04-05T00:00:00Z", "step_minutes": 1440})
    assert len(executions(ssm, window_id)) == 3, "an occurrence never runs twice"


def test_schedules_are_validated(sim: SimServer, ssm: Any) -> None:
    for schedule, timezone in (
        ("cron(0 3 * * SUN *)", "Europe/Berlin"),  # day-of-month and day-of-week both set
        ("at(2027-01-10 03:00)", "Europe/Berlin"),
        ("rate(5 minutes)", None),
        ("at(2027-01-10T03:00:00)", "Mars/Olympus_Mons"),
    ):
        with pytest.raises(ClientError) as error:
            create_window(ssm, schedule, timezone)
        assert error_code(error) == "ValidationException", schedule
    with pytest.raises(ClientError) as error:
        create_window(ssm, "at(2027-01-10T03:00:00)", Duration=2, Cutoff=2)
    assert error_code(error) == "ValidationException"
    assert ssm.describe_maintenance_windows()["WindowIdentities"] == []


# -- the API around windows ---------------------------------------------------------------------
def test_client_token_makes_bookings_idempotent(sim: SimServer, ssm: Any) -> None:
    tags = [{"Key": "livepatch-autopilot:booking", "Value": "reboot"}]
    first = create_window(ssm, "at(2027-01-10T03:00:00)", ClientToken="reboot-web-1", Tags=tags)
    again = create_window(ssm, "at(2027-01-10T03:00:00)", ClientToken="reboot-web-1", Tags=tags)
    assert again == first
    assert [w["WindowId"] for w in ssm.describe_maintenance_windows()["WindowIdentities"]] == [first]
    with pytest.raises(ClientError) as error:
        create_window(ssm, "at(2027-01-11T03:00:00)", ClientToken="reboot-web-1", Tags=tags)
    assert error_code(error) == "IdempotentParameterMismatch"
    target = {
        "WindowId": first,
        "ResourceType": "INSTANCE",
        "Targets": instance_ids(WEB),
        "ClientToken": "t1",
    }
    target_id = ssm.register_target_with_maintenance_window(**target)["WindowTargetId"]
    assert ssm.register_target_with_maintenance_window(**target)["WindowTargetId"] == target_id
    assert len(ssm.describe_maintenance_window_targets(WindowId=first)["Targets"]) == 1
    assert create_window(ssm, "at(2027-01-10T03:00:00)", ClientToken="other", Tags=tags) != first


def test_windows_tags_filters_updates_and_delete(sim: SimServer, ssm: Any) -> None:
    tags = [
        {"Key": "livepatch-autopilot:booking", "Value": "reboot"},
        {"Key": "livepatch-autopilot:instance", "Value": WEB},
    ]
    booked = create_window(ssm, "at(2027-01-10T03:00:00)", Name="livepatch-autopilot-reboot-a", Tags=tags)
    other = create_window(ssm, "cron(0 2 ? * WED *)", "America/New_York", Name="livepatch-autopilot-reboot-b")
    listed = ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=booked)["TagList"]
    assert listed == tags
    ssm.add_tags_to_resource(
        ResourceType="MaintenanceWindow", ResourceId=other, Tags=[{"Key": "owner", "Value": "ops"}]
    )
    ssm.remove_tags_from_resource(
        ResourceType="MaintenanceWindow", ResourceId=booked, TagKeys=["livepatch-autopilot:instance"]
    )
    assert (
        ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=booked)["TagList"] == tags[:1]
    )
    assert ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=other)["TagList"] == [
        {"Key": "owner", "Value": "ops"}
    ]

    def names(*filters: dict[str, Any]) -> list[str]:
        found = ssm.describe_maintenance_windows(Filters=list(filters))["WindowIdentities"]
        return [w["Name"] for w in found]

    assert names({"Key": "Name", "Values": ["livepatch-autopilot-reboot-b"]}) == [
        "livepatch-autopilot-reboot-b"
    ]
    ssm.update_maintenance_window(WindowId=other, Enabled=False)
    assert names({"Key": "Enabled", "Values": ["true"]}) == ["livepatch-autopilot-reboot-a"]
    window = ssm.get_maintenance_window(WindowId=other)
    assert (window["Enabled"], window["ScheduleTimezone"], window["AllowUnassociatedTargets"]) == (
        False,
        "America/New_York",
        False,
    )
    sim.post("/_sim/clock/advance", {"to": "2026-12-20T00:00:00Z", "step_minutes": 1440})
    assert executions(ssm, other) == [], "a disabled window does not run"

    ssm.delete_maintenance_window(WindowId=booked)
    with pytest.raises(ClientError) as error:
        ssm.get_maintenance_window(WindowId=booked)
    assert error_code(error) == "DoesNotExistException"
    with pytest.raises(ClientError) as error:
        ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=booked)
    assert error_code(error) == "InvalidResourceId"
    assert names() == ["livepatch-autopilot-reboot-b"]


def test_a_window_carries_at_most_50_tags(sim: SimServer, ssm: Any) -> None:
    """AddTagsToResource counts the tags the window will carry (a key set again is not a new tag);
    CreateMaintenanceWindow counts the tags it is given."""
    too_many = [{"Key": f"k{n}", "Value": "v"} for n in range(51)]
    with pytest.raises(ClientError) as error:
        create_window(ssm, "at(2027-01-10T03:00:00)", Name="livepatch-autopilot-reboot-over", Tags=too_many)
    assert error_code(error) == "TooManyTagsError"
    window = create_window(ssm, "at(2027-01-10T03:00:00)", Name="livepatch-autopilot-reboot-full")

    def add(*keys: str) -> None:
        tags = [{"Key": k, "Value": "v"} for k in keys]
        ssm.add_tags_to_resource(ResourceType="MaintenanceWindow", ResourceId=window, Tags=tags)

    add(*(f"k{n}" for n in range(50)))
    add("k0", "k49")
    with pytest.raises(ClientError) as error:
        add("k50")
    assert error_code(error) == "TooManyTagsError"
    ssm.remove_tags_from_resource(ResourceType="MaintenanceWindow", ResourceId=window, TagKeys=["k0"])
    add("k50")
    listed = ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=window)["TagList"]
    assert len(listed) == 50


def test_describe_windows_pages(sim: SimServer, ssm: Any) -> None:
    for day in range(1, 13):
        create_window(ssm, f"at(2027-01-{day:02d}T03:00:00)", Name=f"livepatch-autopilot-reboot-{day:02d}")
    pages = ssm.get_paginator("describe_maintenance_windows").paginate()
    assert [len(p["WindowIdentities"]) for p in pages] == [10, 2]


def test_task_targets_must_be_registered_unless_unassociated_targets_are_allowed(
    sim: SimServer, ssm: Any
) -> None:
    window_id = create_window(ssm, "at(2027-01-10T03:00:00)")
    task = {
        "WindowId": window_id,
        "TaskType": "RUN_COMMAND",
        "TaskArn": "AWS-RunPatchBaseline",
        "TaskInvocationParameters": {"RunCommand": {"Parameters": REBOOT_PARAMETERS}},
        "MaxConcurrency": "1",
        "MaxErrors": "0",
    }
    with pytest.raises(ClientError) as error:
        ssm.register_task_with_maintenance_window(**task, Targets=instance_ids(WEB))
    assert error_code(error) == "ValidationException"
    with pytest.raises(ClientError) as error:
        ssm.register_task_with_maintenance_window(
            **task, Targets=[{"Key": "WindowTargetIds", "Values": ["6a4c1f7e-0000-4000-8000-000000000000"]}]
        )
    assert error_code(error) == "DoesNotExistException"
    target_id = ssm.register_target_with_maintenance_window(
        WindowId=window_id, ResourceType="INSTANCE", Targets=instance_ids(WEB)
    )["WindowTargetId"]
    task_id = ssm.register_task_with_maintenance_window(
        **task, Targets=[{"Key": "WindowTargetIds", "Values": [target_id]}]
    )["WindowTaskId"]
    (listed,) = ssm.describe_maintenance_window_tasks(WindowId=window_id)["Tasks"]
    assert (listed["WindowTaskId"], listed["Type"], listed["TaskArn"]) == (
        task_id,
        "RUN_COMMAND",
        "AWS-RunPatchBaseline",
    )
    with pytest.raises(ClientError) as error:
        ssm.deregister_target_from_maintenance_window(WindowId=window_id, WindowTargetId=target_id, Safe=True)
    assert error_code(error) == "TargetInUseException"


# -- executions ----------------------------------------------------------------------------------
def test_execution_events_in_progress_then_success(sim: SimServer, ssm: Any) -> None:
    window_id, _, _ = book_reboot(ssm, "at(2026-12-05T03:00:00)", instance_ids(WEB, API))
    sim.post("/_sim/clock/advance", {"to": "2026-12-05T04:00:00Z"})
    arn = f"arn:aws:ssm:us-east-1:123456789012:maintenancewindow/{window_id}"
    (started, finished) = events(sim, EXECUTION_CHANGE)
    (execution,) = executions(ssm, window_id)
    assert started["source"] == "aws.ssm" and started["resources"] == [arn]
    assert started["time"] == "2026-12-05T02:00:00Z"
    assert started["detail"] == {
        "start-time": "2026-12-05T02:00:00.000000Z",
        "window-id": window_id,
        "window-execution-id": execution["WindowExecutionId"],
        "status": "IN_PROGRESS",
    }
    assert finished["detail"] == {
        "start-time": "2026-12-05T02:00:00.000000Z",
        "end-time": "2026-12-05T02:00:00.000000Z",
        "window-id": window_id,
        "window-execution-id": execution["WindowExecutionId"],
        "status": "SUCCESS",
    }
    (task_started, task_finished) = events(sim, TASK_CHANGE)
    assert [task_started["detail"]["status"], task_finished["detail"]["status"]] == ["IN_PROGRESS", "SUCCESS"]
    assert set(task_finished["detail"]) == {
        "start-time",
        "end-time",
        "task-execution-id",
        "window-id",
        "window-execution-id",
        "status",
    }
    order = [e["event"]["detail-type"] for e in sim.get("/_sim/events")["events"]]
    assert order[0] == EXECUTION_CHANGE and order[-1] == EXECUTION_CHANGE
    assert order.count("EC2 Command Invocation Status-change Notification") == 2  # one command per target
    got = ssm.get_maintenance_window_execution(WindowExecutionId=execution["WindowExecutionId"])
    (task_id,) = got["TaskIds"]
    task = ssm.get_maintenance_window_execution_task(
        WindowExecutionId=got["WindowExecutionId"], TaskId=task_id
    )
    assert (task["Status"], task["MaxConcurrency"], task["Type"]) == ("SUCCESS", "1", "RUN_COMMAND")
    assert task["TaskParameters"] == [{name: {"Values": v} for name, v in REBOOT_PARAMETERS.items()}]


def test_failed_invocation_fails_the_execution_and_max_errors_stops_the_rest(
    sim: SimServer, ssm: Any
) -> None:
    sim.post(f"/_sim/instances/{WEB}", {"failure": "yum_lock"})
    window_id, target_id, _ = book_reboot(ssm, "at(2026-12-05T03:00:00)", instance_ids(WEB, BATCH))
    sim.post("/_sim/clock/advance", {"to": "2026-12-05T04:00:00Z"})
    (execution,) = executions(ssm, window_id)
    assert (execution["Status"], execution["StatusDetails"]) == (
        "FAILED",
        "One or more tasks in the orchestration failed.",
    )
    (invocation,) = invocations(ssm, execution["WindowExecutionId"])  # MaxErrors 0: BATCH never invoked
    assert (invocation["Status"], invocation["WindowTargetId"], invocation["OwnerInformation"]) == (
        "FAILED",
        target_id,
        "reboot",
    )
    result = ssm.get_command_invocation(
        CommandId=invocation["ExecutionId"], InstanceId=WEB, PluginName="PatchLinux"
    )
    assert "Existing lock /var/run/yum.pid" in result["StandardErrorContent"]
    assert [e["detail"]["status"] for e in events(sim, EXECUTION_CHANGE)] == ["IN_PROGRESS", "FAILED"]
    assert sim.get("/_sim/reboots")["reboots"] == []


def test_targets_resolve_tags_and_unmanaged_instances_fail(sim: SimServer, ssm: Any) -> None:
    window_id, _, _ = book_reboot(
        ssm,
        "at(2026-12-05T03:00:00)",
        [{"Key": "tag:Environment", "Values": ["production"]}],
        max_concurrency="50%",
        max_errors="1",
    )
    sim.post(f"/_sim/instances/{BATCH}", {"managed": False})
    unmanaged_id, _, _ = book_reboot(ssm, "at(2026-12-05T04:00:00)", instance_ids(BATCH))
    nobody_id, _, _ = book_reboot(
        ssm, "at(2026-12-05T05:00:00)", [{"Key": "tag:Service", "Values": ["none"]}]
    )
    sim.post("/_sim/clock/advance", {"to": "2026-12-05T06:00:00Z"})

    (tagged,) = executions(ssm, window_id)
    assert tagged["Status"] == "SUCCESS"
    assert sorted(
        json.loads(i["Parameters"])["instanceIds"][0] for i in invocations(ssm, tagged["WindowExecutionId"])
    ) == [
        WEB,
        API,
    ]
    (unmanaged,) = executions(ssm, unmanaged_id)
    assert unmanaged["Status"] == "FAILED"
    (refused,) = invocations(ssm, unmanaged["WindowExecutionId"])
    assert refused["Status"] == "FAILED" and refused["StatusDetails"].startswith("InvalidInstanceId")
    assert "ExecutionId" not in refused  # SendCommand refused it: no command
    (nobody,) = executions(ssm, nobody_id)
    assert nobody["Status"] == "SUCCESS"
    (task,) = ssm.describe_maintenance_window_execution_tasks(WindowExecutionId=nobody["WindowExecutionId"])[
        "WindowExecutionTaskIdentities"
    ]
    assert task["StatusDetails"] == "No invocations to execute."


def test_describe_executions_newest_first_with_filters_and_pages(sim: SimServer, ssm: Any) -> None:
    window_id = create_window(ssm, "rate(1 day)", None)  # from the window's creation: 01:00 UTC daily
    sim.post("/_sim/clock/advance", {"to": "2026-12-15T12:00:00Z", "step_minutes": 720})
    pages = ssm.get_paginator("describe_maintenance_window_executions").paginate(WindowId=window_id)
    listed = [e for p in pages for e in p["WindowExecutions"]]
    assert len(listed) == 12
    assert [iso(e["StartTime"]) for e in listed[:2]] == ["2026-12-15T01:00:00Z", "2026-12-14T01:00:00Z"]
    recent = ssm.describe_maintenance_window_executions(
        WindowId=window_id, Filters=[{"Key": "ExecutedAfter", "Values": ["2026-12-13T00:00:00Z"]}]
    )["WindowExecutions"]
    assert len(recent) == 3


# -- reboots and kernels over time --------------------------------------------------------------------
def test_reboot_lands_in_the_newest_kernel_available_at_that_time(sim: SimServer, ssm: Any) -> None:
    sim.post("/_sim/fleet", load_fleet("reboots.json"))
    baseline = ssm.create_patch_baseline(  # approve at once: only availability decides
        Name="kernels-now",
        OperatingSystem="AMAZON_LINUX_2",
        ApprovalRules={
            "PatchRules": [
                {
                    "PatchFilterGroup": {"PatchFilters": [{"Key": "CLASSIFICATION", "Values": ["Security"]}]},
                    "ApproveAfterDays": 0,
                }
            ]
        },
    )["BaselineId"]
    ssm.register_patch_baseline_for_patch_group(BaselineId=baseline, PatchGroup="web")
    sim.post(f"/_sim/instances/{WEB_1}", {"patch_group": "web"})
    # 5.10.245 is built 2027-01-11 18:02 but released 2027-01-13 18:02.
    window_id, _, _ = book_reboot(ssm, "at(2027-01-12T03:00:00)", instance_ids(WEB_1), timezone=None)
    sim.post("/_sim/clock/advance", {"to": "2027-01-12T03:00:00Z", "step_minutes": 1440})
    (reboot,) = sim.get("/_sim/reboots")["reboots"]
    (execution,) = executions(ssm, window_id)
    (invocation,) = invocations(ssm, execution["WindowExecutionId"])
    assert reboot == {
        "instance_id": WEB_1,
        "time": "2027-01-12T03:00:00Z",
        "from_kernel": "5.10.241-239.962.amzn2.x86_64",
        "to_kernel": "5.10.244-242.983.amzn2.x86_64",
        "command_id": invocation["ExecutionId"],
        "document_name": "AWS-RunPatchBaseline",
        "window_id": window_id,
        "window_execution_id": execution["WindowExecutionId"],
    }
    assert sim.get(f"/_sim/instances/{WEB_1}")["support_end"] == "2027-03-14"
    scan = ssm.send_command(
        InstanceIds=[WEB_1], DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Scan"]}
    )["Command"]
    sim.post("/_sim/agents/run")
    output = ssm.get_command_invocation(
        CommandId=scan["CommandId"], InstanceId=WEB_1, PluginName="PatchLinux"
    )
    assert "kernel.x86_64:0:5.10.245" not in output["StandardOutputContent"], "not released yet"

    sim.post("/_sim/clock", {"now": "2027-01-14T00:00:00Z"})
    command = ssm.send_command(
        InstanceIds=[WEB_1], DocumentName="AWS-RunPatchBaseline", Parameters=REBOOT_PARAMETERS
    )["Command"]
    sim.post("/_sim/agents/run")
    sim.post("/_sim/agents/run")
    latest = sim.get("/_sim/reboots")["reboots"][-1]
    assert (latest["to_kernel"], latest["command_id"], latest["window_id"]) == (
        "5.10.245-243.990.amzn2.x86_64",
        command["CommandId"],
        None,
    )


def test_advance_runs_agents_per_step_or_leaves_them(sim: SimServer, ssm: Any) -> None:
    waiting_id, _, _ = book_reboot(ssm, "at(2026-12-05T03:00:00)", instance_ids(WEB))
    advanced = sim.post("/_sim/clock/advance", {"to": "2026-12-05T02:30:00Z", "run_agents": False})
    assert advanced["now"] == "2026-12-05T02:30:00Z"
    assert [s["status"] for s in advanced["windows_started"]] == ["IN_PROGRESS"]
    assert advanced["events_emitted"] == 2  # execution and task IN_PROGRESS; the command waits
    (pending,) = ssm.list_commands()["Commands"]
    assert pending["Status"] == "Pending"
    sim.post("/_sim/clock/advance", {"to": "2026-12-05T06:00:00Z", "run_agents": False})
    (execution,) = executions(ssm, waiting_id)  # 3 hours long: nobody ran the agents
    assert (execution["Status"], iso(execution["EndTime"])) == ("TIMED_OUT", "2026-12-05T05:00:00Z")

    book_reboot(ssm, "at(2026-12-06T03:00:00)", instance_ids(WEB))
    moved = sim.post("/_sim/clock", {"now": "2026-12-06T02:30:00Z"})  # runs the window, not the agents
    assert [s["status"] for s in moved["windows_started"]] == ["IN_PROGRESS"]
    sim.post("/_sim/clock/advance", {"to": "2026-12-06T03:00:00Z"})  # the agents catch up
    (reboot,) = sim.get("/_sim/reboots")["reboots"]
    # The timed-out window's command was still pending: it is the one that reboots.
    assert (reboot["time"], reboot["window_id"]) == ("2026-12-06T03:00:00Z", waiting_id)
    with pytest.raises(urllib.error.HTTPError) as error:
        sim.post("/_sim/clock/advance", {"to": "2026-12-01T00:00:00Z"})
    assert error.value.code == 400
    windows = sim.get("/_sim/windows")["windows"]
    assert [w["executions"][0]["status"] for w in windows] == ["TIMED_OUT", "SUCCESS"]
    assert windows[1]["executions"][0]["tasks"][0]["invocations"][0]["instance_id"] == WEB


# -- the reboots fleet --------------------------------------------------------------------------------
def test_reboots_fleet_spreads_support_ends_over_120_days(sim: SimServer, ssm: Any) -> None:
    sim.post("/_sim/fleet", load_fleet("reboots.json"))
    instances = sim.get("/_sim/fleet")["instances"]
    assert len(instances) == 20
    assert all(i["managed"] and i["state"] == "running" and i["agent"] == "Online" for i in instances)
    assert all(i["livepatch"]["plugin"] and i["livepatch"]["kpatch_service"] == "enabled" for i in instances)
    groups = [i["tags"].get("aws:autoscaling:groupName") for i in instances]
    assert (groups.count("web-asg"), groups.count("api-asg"), groups.count("batch-asg")) == (6, 4, 3)
    ends = sorted(i["support_end"] for i in instances)
    assert [i["id"] for i in instances if i["support_ended"]] == [REPORTS_1, "i-0c5e1a7b9d3f20002"]
    assert sum("2026-12-20" <= e <= "2027-01-15" for e in ends) == 6
    assert sum("2027-01-15" < e <= "2027-03-31" for e in ends) == 8
    assert sum(e > "2027-04-02" for e in ends) == 4
    inventory = ssm.get_inventory(ResultAttributes=[{"TypeName": "Custom:KernelLivePatch"}])["Entities"]
    assert len(inventory) == 20


def test_cancelling_an_execution_cancels_its_pending_commands(sim: SimServer, ssm: Any) -> None:
    window_id, _, _ = book_reboot(ssm, "at(2026-12-05T03:00:00)", instance_ids(WEB, BATCH))
    sim.post("/_sim/clock", {"now": "2026-12-05T02:10:00Z"})  # started; the agents have not run
    (execution,) = executions(ssm, window_id)
    assert execution["Status"] == "IN_PROGRESS"
    ssm.cancel_maintenance_window_execution(WindowExecutionId=execution["WindowExecutionId"])
    sim.post("/_sim/agents/run")
    (execution,) = executions(ssm, window_id)
    assert execution["Status"] == "CANCELLED"
    (invocation,) = invocations(ssm, execution["WindowExecutionId"])  # MaxConcurrency 1: BATCH never sent
    assert invocation["Status"] == "CANCELLED"
    assert ssm.list_commands()["Commands"][0]["Status"] == "Cancelled"
    assert sim.get("/_sim/reboots")["reboots"] == []


def test_overlapping_runs_are_skipped_and_windows_are_found_by_target(sim: SimServer, ssm: Any) -> None:
    window_id, _, _ = book_reboot(ssm, "rate(1 hour)", instance_ids(WEB), timezone=None, Duration=2, Cutoff=0)
    found = ssm.describe_maintenance_windows_for_target(ResourceType="INSTANCE", Targets=instance_ids(WEB))
    assert [w["WindowId"] for w in found["WindowIdentities"]] == [window_id]
    assert (
        ssm.describe_maintenance_windows_for_target(ResourceType="INSTANCE", Targets=instance_ids(API))[
            "WindowIdentities"
        ]
        == []
    )
    # Nobody runs the agents: the 02:00 execution still waits for its command at 03:00.
    sim.post("/_sim/clock/advance", {"to": "2026-12-03T03:30:00Z", "run_agents": False})
    assert [e["Status"] for e in reversed(executions(ssm, window_id))] == [
        "IN_PROGRESS",
        "SKIPPED_OVERLAPPING",
    ]
    # At 04:00 the 2-hour window closes first, so the next run starts.
    sim.post("/_sim/clock/advance", {"to": "2026-12-03T04:30:00Z", "run_agents": False})
    assert [e["Status"] for e in reversed(executions(ssm, window_id))] == [
        "TIMED_OUT",
        "SKIPPED_OVERLAPPING",
        "IN_PROGRESS",
    ]
