"""livesim against boto3, the way the product's functions use SSM and SNS."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import FLEETS, SimServer, fleet_error, load_fleet, start_server

WEB = "i-0a1b2c3d4e5f60001"  # AL2 5.10, live patching on, nothing installed
API = "i-0a1b2c3d4e5f60002"  # AL2023 6.1, live patching on
BATCH = "i-0a1b2c3d4e5f60003"  # AL2 5.10, kpatch.service disabled, 1.0-1 installed
FACTS_DOCUMENT = "LivePatchAutopilot-KernelFacts"


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


def scan(ssm: Any, sim: SimServer, *instance_ids: str, **parameters: list[str]) -> str:
    command = ssm.send_command(
        InstanceIds=list(instance_ids),
        DocumentName="AWS-RunPatchBaseline",
        Parameters={"Operation": ["Scan"], **parameters},
    )["Command"]
    sim.post("/_sim/agents/run")
    return command["CommandId"]


def install_no_reboot(ssm: Any, sim: SimServer, *instance_ids: str) -> str:
    return scan(ssm, sim, *instance_ids, Operation=["Install"], RebootOption=["NoReboot"])


def patches(ssm: Any, instance_id: str, **kwargs: Any) -> dict[str, dict[str, Any]]:
    listed = ssm.describe_instance_patches(InstanceId=instance_id, MaxResults=100, **kwargs)["Patches"]
    return {p["KBId"]: p for p in listed}


def events(sim: SimServer, detail_type: str) -> list[dict[str, Any]]:
    return [e["event"] for e in sim.get("/_sim/events")["events"] if e["event"]["detail-type"] == detail_type]


def create_facts_document(ssm: Any) -> None:
    content = {
        "schemaVersion": "2.2",
        "description": "Collect kernel live patch facts as custom inventory.",
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "CollectKernelFacts",
                "precondition": {"StringEquals": ["platformType", "Linux"]},
                "inputs": {"runCommand": ["uname -r", "uname -v", "kpatch list"]},
            }
        ],
    }
    ssm.create_document(Name=FACTS_DOCUMENT, Content=json.dumps(content), DocumentType="Command")


# -- instances ---------------------------------------------------------------------------
def test_instance_information_omits_stopped_and_unmanaged_and_paginates(
    server: SimServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server.post("/_sim/fleet", load_fleet("demo.json"))
    ssm = server.client("ssm")
    pages = ssm.get_paginator("describe_instance_information").paginate(PaginationConfig={"PageSize": 5})
    listed = [page["InstanceInformationList"] for page in pages]
    ids = [info["InstanceId"] for page in listed for info in page]
    assert [len(page) for page in listed] == [5, 5, 3]
    assert "i-0f3a9c2e41b7d5a0a" not in ids  # unmanaged
    assert "i-0f3a9c2e41b7d5a0b" not in ids  # stopped
    by_id = {info["InstanceId"]: info for page in listed for info in page}
    assert by_id["i-0f3a9c2e41b7d5a0d"]["PingStatus"] == "ConnectionLost"
    assert by_id["i-0f3a9c2e41b7d5a09"]["PlatformName"] == "Ubuntu"
    assert by_id["i-0f3a9c2e41b7d5a09"]["PlatformVersion"] == "22.04"
    assert by_id["i-0f3a9c2e41b7d5a06"]["PlatformVersion"] == "2023"
    assert by_id["mi-0c2d4e6f8a0b1c2d3"]["ResourceType"] == "ManagedInstance"
    assert by_id["i-0f3a9c2e41b7d5a01"]["ResourceType"] == "EC2Instance"
    with pytest.raises(ClientError) as error:
        ssm.describe_instance_information(NextToken="not-a-token")
    assert error_code(error) == "InvalidNextToken"


def test_instance_information_filters(sim: SimServer, ssm: Any) -> None:
    def ids(**kwargs: Any) -> list[str]:
        return [
            i["InstanceId"] for i in ssm.describe_instance_information(**kwargs)["InstanceInformationList"]
        ]

    assert ids(Filters=[{"Key": "tag:Environment", "Values": ["staging"]}]) == [BATCH]
    assert ids(Filters=[{"Key": "tag-key", "Values": ["Service"]}]) == [WEB, API, BATCH]
    assert ids(Filters=[{"Key": "InstanceIds", "Values": [API]}]) == [API]
    assert ids(InstanceInformationFilterList=[{"key": "PlatformTypes", "valueSet": ["Linux"]}]) == [
        WEB,
        API,
        BATCH,
    ]
    sim.post(f"/_sim/instances/{API}", {"agent": "ConnectionLost"})
    assert ids(Filters=[{"Key": "PingStatus", "Values": ["Online"]}]) == [WEB, BATCH]


ONPREM = "mi-0c2d4e6f8a0b1c2d3"  # in demo.json
DEMO_ASG = {  # demo.json's instances with aws:autoscaling:groupName
    "i-0f3a9c2e41b7d5a01": "web-prod-asg",
    "i-0f3a9c2e41b7d5a03": "web-prod-asg",
    "i-0f3a9c2e41b7d5a04": "worker-arm-asg",
}


def test_tags_of_managed_instances(sim: SimServer, ssm: Any) -> None:
    sim.post("/_sim/fleet", load_fleet("demo.json"))
    tags = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=ONPREM)["TagList"]
    assert {"Key": "Service", "Value": "db"} in tags
    ssm.add_tags_to_resource(
        ResourceType="ManagedInstance", ResourceId=ONPREM, Tags=[{"Key": "a", "Value": "b"}]
    )
    tags = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=ONPREM)["TagList"]
    assert {"Key": "a", "Value": "b"} in tags
    # As in AWS, ResourceType ManagedInstance takes hybrid mi- ids only: EC2 tags belong to EC2.
    ec2 = next(iter(DEMO_ASG))
    with pytest.raises(ClientError) as error:
        ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=ec2)
    assert error_code(error) == "InvalidResourceId"
    with pytest.raises(ClientError) as error:
        ssm.add_tags_to_resource(
            ResourceType="ManagedInstance", ResourceId=ec2, Tags=[{"Key": "a", "Value": "b"}]
        )
    assert error_code(error) == "InvalidResourceId"


def _instance_tags(mappings: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    prefix = "arn:aws:ec2:us-east-1:123456789012:instance/"
    assert all(m["ResourceARN"].startswith(prefix) for m in mappings), mappings
    return {m["ResourceARN"][len(prefix) :]: {t["Key"]: t["Value"] for t in m["Tags"]} for m in mappings}


def test_get_resources_lists_the_fleets_ec2_instances_with_their_tags(sim: SimServer) -> None:
    sim.post("/_sim/fleet", load_fleet("demo.json"))
    tagging = sim.client("resourcegroupstaggingapi")
    answer = tagging.get_resources(
        ResourceTypeFilters=["ec2:instance"], TagFilters=[{"Key": "aws:autoscaling:groupName"}]
    )
    assert answer["PaginationToken"] == ""  # AWS ends with an empty token
    listed = _instance_tags(answer["ResourceTagMappingList"])
    assert {i: t["aws:autoscaling:groupName"] for i, t in listed.items()} == DEMO_ASG
    assert listed["i-0f3a9c2e41b7d5a01"]["Name"] == "web-prod-1"  # every tag of the instance
    answer = tagging.get_resources(
        ResourceTypeFilters=["ec2:instance"],
        TagFilters=[{"Key": "aws:autoscaling:groupName", "Values": ["worker-arm-asg", "nope"]}],
    )
    assert list(_instance_tags(answer["ResourceTagMappingList"])) == ["i-0f3a9c2e41b7d5a04"]
    both = [{"Key": "Environment", "Values": ["staging"]}, {"Key": "Service", "Values": ["api"]}]
    answer = tagging.get_resources(ResourceTypeFilters=["ec2:instance"], TagFilters=both)
    # Stopped and unmanaged instances are EC2 instances all the same; hybrid mi- ones are not.
    assert sorted(_instance_tags(answer["ResourceTagMappingList"])) == [
        "i-0f3a9c2e41b7d5a08",
        "i-0f3a9c2e41b7d5a0b",
    ]


def test_get_resources_pages_and_stays_in_the_fleets_account_and_region(sim: SimServer) -> None:
    sim.post("/_sim/fleet", load_fleet("demo.json"))
    tagging = sim.client("resourcegroupstaggingapi")
    pages = list(
        tagging.get_paginator("get_resources").paginate(ResourceTypeFilters=["ec2"], ResourcesPerPage=4)
    )
    assert [len(p["ResourceTagMappingList"]) for p in pages] == [4, 4, 4, 2]
    instances = _instance_tags([m for p in pages for m in p["ResourceTagMappingList"]])
    assert len(instances) == 14 and ONPREM not in instances
    # Other resource types are moto's: the fleet's instances are not among them.
    assert tagging.get_resources(ResourceTypeFilters=["ssm"])["ResourceTagMappingList"] == []
    with pytest.raises(ClientError) as error:
        tagging.get_resources(ResourceTypeFilters=["ec2:instance"], ResourcesPerPage=101)
    assert error_code(error) == "InvalidParameterException"
    with pytest.raises(ClientError) as error:
        tagging.get_resources(ResourceTypeFilters=["ec2:instance"], PaginationToken="garbage")
    assert error_code(error) == "PaginationTokenExpiredException"
    elsewhere = boto3.client(
        "resourcegroupstaggingapi",
        endpoint_url=sim.url,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    assert elsewhere.get_resources(ResourceTypeFilters=["ec2:instance"])["ResourceTagMappingList"] == []
    sim.post("/_sim/faults", {"operation": "GetResources", "error": "ThrottledException"})
    with pytest.raises(ClientError) as error:
        tagging.get_resources(ResourceTypeFilters=["ec2:instance"])
    assert error_code(error) == "ThrottledException"
    assert len(tagging.get_resources(ResourceTypeFilters=["ec2:instance"])["ResourceTagMappingList"]) == 14


# -- Run Command ---------------------------------------------------------------------------
def test_send_command_with_instance_ids_targets_only_those(sim: SimServer, ssm: Any) -> None:
    command = ssm.send_command(
        InstanceIds=[API],
        DocumentName="AWS-RunPatchBaseline",
        Parameters={"Operation": ["Scan"]},
        Comment="scan api",
    )["Command"]
    assert command["TargetCount"] == 1
    assert command["Status"] == "Pending"
    invocations = ssm.list_command_invocations(CommandId=command["CommandId"])["CommandInvocations"]
    assert [(i["InstanceId"], i["Status"]) for i in invocations] == [(API, "Pending")]
    recorded = sim.get("/_sim/commands")["commands"][-1]
    assert recorded["resolved_instance_ids"] == [API]
    assert recorded["request"]["Parameters"] == {"Operation": ["Scan"]}
    assert recorded["comment"] == "scan api"


def test_send_command_resolves_tag_targets(sim: SimServer, ssm: Any) -> None:
    def targets(*targets: dict[str, Any]) -> list[str]:
        command = ssm.send_command(
            Targets=list(targets), DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Scan"]}
        )["Command"]
        return [
            i["InstanceId"]
            for i in ssm.list_command_invocations(CommandId=command["CommandId"])["CommandInvocations"]
        ]

    assert targets({"Key": "tag:Environment", "Values": ["production"]}) == [WEB, API]
    assert targets(
        {"Key": "tag:Environment", "Values": ["production"]}, {"Key": "tag:Service", "Values": ["api"]}
    ) == [API]
    assert targets({"Key": "tag-key", "Values": ["Service"]}) == [WEB, API, BATCH]
    assert targets({"Key": "InstanceIds", "Values": ["*"]}) == [WEB, API, BATCH]
    sim.post(f"/_sim/instances/{API}", {"state": "stopped"})
    assert targets({"Key": "tag:Environment", "Values": ["production"]}) == [WEB]


def test_send_command_rejects_unreachable_instances_and_unknown_documents(sim: SimServer, ssm: Any) -> None:
    sim.post(f"/_sim/instances/{API}", {"state": "stopped"})
    sim.post(f"/_sim/instances/{BATCH}", {"agent": "ConnectionLost"})
    for instance_id in (API, BATCH, "i-0123456789abcdef0"):
        with pytest.raises(ClientError) as error:
            ssm.send_command(
                InstanceIds=[WEB, instance_id],
                DocumentName="AWS-RunPatchBaseline",
                Parameters={"Operation": ["Scan"]},
            )
        assert error_code(error) == "InvalidInstanceId"
        assert instance_id in error.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as error:
        ssm.send_command(InstanceIds=[WEB], DocumentName=FACTS_DOCUMENT)
    assert error_code(error) == "InvalidDocument"
    with pytest.raises(ClientError) as error:
        ssm.send_command(
            InstanceIds=[WEB], DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Patch"]}
        )
    assert error_code(error) == "InvalidParameters"
    assert ssm.list_commands()["Commands"] == []
    assert [c["error"]["code"] for c in sim.get("/_sim/commands")["commands"]] == [
        "InvalidInstanceId"
    ] * 3 + [
        "InvalidDocument",
        "InvalidParameters",
    ]


def test_command_listing_and_invocation_output(sim: SimServer, ssm: Any) -> None:
    command_id = scan(ssm, sim, WEB, API)
    (command,) = ssm.list_commands(CommandId=command_id)["Commands"]
    assert (command["Status"], command["TargetCount"], command["CompletedCount"], command["ErrorCount"]) == (
        "Success",
        2,
        2,
        0,
    )
    assert ssm.list_commands(Filters=[{"key": "Status", "value": "Pending"}])["Commands"] == []
    assert (
        len(
            ssm.list_commands(InstanceId=API, Filters=[{"key": "ExecutionStage", "value": "Complete"}])[
                "Commands"
            ]
        )
        == 1
    )
    detailed = ssm.list_command_invocations(CommandId=command_id, InstanceId=WEB, Details=True)[
        "CommandInvocations"
    ][0]
    assert [p["Name"] for p in detailed["CommandPlugins"]] == ["PatchWindows", "PatchLinux", "PatchMacOS"]
    assert "Step execution skipped" in detailed["CommandPlugins"][0]["Output"]
    with pytest.raises(ClientError) as error:
        ssm.get_command_invocation(CommandId=command_id, InstanceId=WEB)
    assert error_code(error) == "InvalidPluginName"  # a document with several steps needs the step name
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=WEB, PluginName="PatchLinux")
    assert invocation["Status"] == "Success" and invocation["ResponseCode"] == 0
    assert (
        "Missing: kernel-livepatch-5.10.227-219.884.x86_64:0:1.0-2.amzn2"
        in invocation["StandardOutputContent"]
    )
    with pytest.raises(ClientError) as error:
        ssm.get_command_invocation(CommandId=command_id, InstanceId=BATCH, PluginName="PatchLinux")
    assert error_code(error) == "InvocationDoesNotExist"


# -- Patch Manager -------------------------------------------------------------------------
def test_scan_reports_live_patches_kernel_and_packages(sim: SimServer, ssm: Any) -> None:
    assert ssm.describe_instance_patch_states(InstanceIds=[WEB])["InstancePatchStates"] == []
    scan(ssm, sim, WEB, BATCH)
    states = {
        s["InstanceId"]: s
        for s in ssm.describe_instance_patch_states(InstanceIds=[WEB, BATCH])["InstancePatchStates"]
    }
    assert (states[WEB]["MissingCount"], states[WEB]["Operation"], states[WEB]["BaselineId"]) == (
        2,
        "Scan",
        "pb-0be8c61cde3be63f3",
    )
    assert states[WEB]["SecurityNonCompliantCount"] == 2
    livepatch = patches(ssm, WEB)["kernel-livepatch-5.10.227-219.884.x86_64"]
    assert livepatch["Title"] == "kernel-livepatch-5.10.227-219.884.x86_64:0:1.0-2.amzn2"
    assert livepatch["State"] == "Missing"
    assert (livepatch["Classification"], livepatch["Severity"]) == (
        "Security",
        "Critical",
    )  # highest of its CVEs
    assert livepatch["CVEIds"] == "CVE-2026-21001,CVE-2026-21017,CVE-2026-21018"
    assert livepatch["InstalledTime"].timestamp() == 0
    batch = patches(ssm, BATCH)
    assert batch["kernel-livepatch-5.10.227-219.884.x86_64"]["CVEIds"] == "CVE-2026-21017,CVE-2026-21018"
    assert batch["openssl-libs.x86_64"]["Title"] == "openssl-libs.x86_64:1:1.0.2k-24.amzn2.0.14"
    missing = patches(
        ssm,
        BATCH,
        Filters=[{"Key": "State", "Values": ["Missing"]}, {"Key": "Severity", "Values": ["Important"]}],
    )
    assert list(missing) == ["openssl-libs.x86_64"]


def test_patch_states_in_the_api_spelling(sim: SimServer, ssm: Any) -> None:
    sim.post("/_sim/fleet", load_fleet("small.json", state_spelling="api"))
    scan(ssm, sim, BATCH)
    states = {p["KBId"]: p["State"] for p in ssm.describe_instance_patches(InstanceId=BATCH)["Patches"]}
    assert set(states.values()) == {"MISSING"}
    filtered = ssm.describe_instance_patches(
        InstanceId=BATCH, Filters=[{"Key": "State", "Values": ["MISSING"]}]
    )
    assert len(filtered["Patches"]) == len(states)


def test_install_no_reboot_installs_and_loads_live_patches(sim: SimServer, ssm: Any) -> None:
    scan(ssm, sim, WEB)
    install_no_reboot(ssm, sim, WEB)
    state = ssm.describe_instance_patch_states(InstanceIds=[WEB])["InstancePatchStates"][0]
    assert (state["Operation"], state["RebootOption"], state["MissingCount"]) == ("Install", "NoReboot", 0)
    assert state["LastNoRebootInstallOperationTime"] == state["OperationEndTime"]
    found = patches(ssm, WEB)
    assert found["kernel-livepatch-5.10.227-219.884.x86_64"]["State"] == "Installed"
    # The newer kernel's fixes are all in effect through live patches: reported Installed, no install time.
    assert found["kernel.x86_64"]["State"] == "Installed"
    assert found["kernel.x86_64"]["InstalledTime"].timestamp() == 0
    view = sim.get(f"/_sim/instances/{WEB}")
    assert view["kernel"] == "5.10.227-219.884.amzn2.x86_64"  # a live patch does not change uname -r
    assert view["livepatch"]["loaded_modules"] == ["livepatch_CVE_2026_21001", "livepatch_CVE_2026_21017"]
    assert view["patch_compliance"]["status"] == "compliant"


def test_install_no_reboot_with_kpatch_disabled_leaves_patches_unloaded(sim: SimServer, ssm: Any) -> None:
    install_no_reboot(ssm, sim, BATCH)
    view = sim.get(f"/_sim/instances/{BATCH}")
    assert view["livepatch"]["installed_modules"] == ["livepatch_CVE_2026_21001", "livepatch_CVE_2026_21017"]
    assert view["livepatch"]["loaded_modules"] == []
    assert view["patch_compliance"]["installed_pending_reboot_count"] == 1
    found = patches(ssm, BATCH)
    assert found["openssl-libs.x86_64"]["State"] == "InstalledPendingReboot"
    assert (
        ssm.describe_instance_patch_states(InstanceIds=[BATCH])["InstancePatchStates"][0][
            "InstalledPendingRebootCount"
        ]
        == 1
    )


def test_install_reboot_if_needed_reboots_into_the_newest_kernel(sim: SimServer, ssm: Any) -> None:
    command = ssm.send_command(
        InstanceIds=[WEB], DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Install"]}
    )["Command"]
    first = sim.post("/_sim/agents/run")["ran"]
    assert [r["status"] for r in first] == ["InProgress"]  # rebooting
    assert sim.get(f"/_sim/instances/{WEB}")["kernel"] == "5.10.230-223.885.amzn2.x86_64"
    sim.post("/_sim/clock", {"now": "2026-12-03T01:07:00Z"})
    second = sim.post("/_sim/agents/run")["ran"]
    assert [r["status"] for r in second] == ["Success"]
    assert ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]["Status"] == "Success"
    view = sim.get(f"/_sim/instances/{WEB}")
    assert view["uname_v"] == "#1 SMP Tue Nov 17 19:02:11 UTC 2026"
    assert view["livepatch"]["installed_package"] is None
    assert view["patch_compliance"]["status"] == "compliant"


def test_failure_modes_fail_like_real_instances(sim: SimServer, ssm: Any) -> None:
    scan(ssm, sim, WEB)
    before = ssm.describe_instance_patch_states(InstanceIds=[WEB])["InstancePatchStates"][0]
    sim.post(f"/_sim/instances/{WEB}", {"failure": "yum_lock"})
    sim.post(f"/_sim/instances/{API}", {"failure": "disk_full"})
    command_id = install_no_reboot(ssm, sim, WEB, API)
    web = ssm.get_command_invocation(CommandId=command_id, InstanceId=WEB, PluginName="PatchLinux")
    assert (web["Status"], web["ResponseCode"]) == ("Failed", 1)
    assert "Existing lock /var/run/yum.pid: another copy is running as pid" in web["StandardErrorContent"]
    api = ssm.get_command_invocation(CommandId=command_id, InstanceId=API, PluginName="PatchLinux")
    assert "Error: Insufficient space in download directory /var/cache/dnf" in api["StandardErrorContent"]
    assert ssm.describe_instance_patch_states(InstanceIds=[WEB])["InstancePatchStates"][0] == before
    assert ssm.list_commands(CommandId=command_id)["Commands"][0]["Status"] == "Failed"

    sim.post(f"/_sim/instances/{WEB}", {"failure": "kpatch_load"})
    command_id = install_no_reboot(ssm, sim, WEB)
    web = ssm.get_command_invocation(CommandId=command_id, InstanceId=WEB, PluginName="PatchLinux")
    assert web["Status"] == "Failed" and "transition has stalled" in web["StandardErrorContent"]
    assert sim.get(f"/_sim/instances/{WEB}")["livepatch"]["loaded_modules"] == []
    assert patches(ssm, WEB)["kernel-livepatch-5.10.227-219.884.x86_64"]["State"] == "Failed"

    sim.post(f"/_sim/instances/{BATCH}", {"failure": "timeout"})
    command_id = scan(ssm, sim, BATCH)
    invocation = ssm.list_command_invocations(CommandId=command_id)["CommandInvocations"][0]
    assert (invocation["Status"], invocation["StatusDetails"]) == ("TimedOut", "ExecutionTimedOut")


def test_offline_instance_times_out_at_the_delivery_deadline(sim: SimServer, ssm: Any) -> None:
    sim.post(f"/_sim/instances/{API}", {"agent": "ConnectionLost"})
    command = ssm.send_command(
        Targets=[{"Key": "tag:Service", "Values": ["api"]}],
        DocumentName="AWS-RunPatchBaseline",
        Parameters={"Operation": ["Scan"]},
        TimeoutSeconds=600,
    )["Command"]
    assert sim.post("/_sim/agents/run")["ran"] == []
    sim.post("/_sim/clock", {"advance_seconds": 601})
    (listed,) = ssm.list_commands(CommandId=command["CommandId"])["Commands"]
    assert (listed["Status"], listed["DeliveryTimedOutCount"], listed["ErrorCount"]) == ("TimedOut", 1, 0)
    invocation = ssm.list_command_invocations(CommandId=command["CommandId"])["CommandInvocations"][0]
    assert invocation["StatusDetails"] == "DeliveryTimedOut"


def test_default_baseline_waits_seven_days_a_custom_one_does_not(sim: SimServer, ssm: Any) -> None:
    sim.post("/_sim/clock", {"now": "2026-11-22T00:00:00Z"})  # 1.0-2 released 2026-11-19
    scan(ssm, sim, WEB)
    assert patches(ssm, WEB)["kernel-livepatch-5.10.227-219.884.x86_64"]["Title"].endswith(":1.0-1.amzn2")
    baseline = ssm.create_patch_baseline(
        Name="livepatch-now",
        OperatingSystem="AMAZON_LINUX_2",
        ApprovalRules={
            "PatchRules": [
                {
                    "PatchFilterGroup": {"PatchFilters": [{"Key": "CLASSIFICATION", "Values": ["Security"]}]},
                    "ApproveAfterDays": 0,
                    "ComplianceLevel": "CRITICAL",
                }
            ]
        },
    )["BaselineId"]
    ssm.register_patch_baseline_for_patch_group(BaselineId=baseline, PatchGroup="web")
    sim.post(f"/_sim/instances/{WEB}", {"patch_group": "web"})
    scan(ssm, sim, WEB)
    state = ssm.describe_instance_patch_states(InstanceIds=[WEB])["InstancePatchStates"][0]
    assert (state["BaselineId"], state["PatchGroup"], state["CriticalNonCompliantCount"]) == (
        baseline,
        "web",
        2,
    )
    assert patches(ssm, WEB)["kernel-livepatch-5.10.227-219.884.x86_64"]["Title"].endswith(":1.0-2.amzn2")
    assert events(sim, "Configuration Compliance State Change")[-1]["detail"]["severity"] == "critical"


# -- kernel facts and inventory ----------------------------------------------------------------
def test_kernel_facts_document_writes_custom_inventory(sim: SimServer, ssm: Any) -> None:
    create_facts_document(ssm)
    assert ssm.describe_document(Name="AWS-RunPatchBaseline")["Document"]["Owner"] == "Amazon"
    command = ssm.send_command(InstanceIds=[BATCH, API], DocumentName=FACTS_DOCUMENT)["Command"]
    sim.post("/_sim/agents/run")
    output = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=BATCH)[
        "StandardOutputContent"
    ]
    printed = json.loads(output)
    assert (printed["TypeName"], printed["SchemaVersion"], printed["CaptureTime"]) == (
        "Custom:KernelLivePatch",
        "1.0",
        "2026-12-03T01:00:00Z",
    )
    entries = ssm.list_inventory_entries(InstanceId=BATCH, TypeName="Custom:KernelLivePatch")
    assert entries["CaptureTime"] == "2026-12-03T01:00:00Z"
    (facts,) = entries["Entries"]
    assert facts == printed["Content"]
    assert facts["KernelRelease"] == "5.10.227-219.884.amzn2.x86_64"
    assert facts["KernelVersion"] == "#1 SMP Tue Oct 13 18:21:30 UTC 2026"
    assert (facts["OsId"], facts["OsVersion"], facts["Arch"]) == ("amzn", "2", "x86_64")
    assert (facts["KpatchServiceEnabled"], facts["KpatchServiceActive"]) == ("disabled", "inactive")
    assert facts["KpatchList"] == (
        "Loaded patch modules:\n\nInstalled patch modules:\n"
        "livepatch_CVE_2026_21001 (5.10.227-219.884.amzn2.x86_64)\n"
    )
    assert facts["SupportOutput"] == ""
    inventory = ssm.get_inventory(ResultAttributes=[{"TypeName": "Custom:KernelLivePatch"}])["Entities"]
    by_id = {e["Id"]: e["Data"]["Custom:KernelLivePatch"]["Content"][0] for e in inventory}
    assert set(by_id) == {BATCH, API}
    assert by_id[API]["SupportOutput"] == (
        "kernel-6.1.115-126.197.amzn2023.x86_64 will no longer receive live patches after 2027-04-21."
    )
    assert by_id[API]["KernelVersion"].startswith("#1 SMP PREEMPT_DYNAMIC ")
    filtered = ssm.get_inventory(
        Filters=[{"Key": "Custom:KernelLivePatch.OsVersion", "Values": ["2023"], "Type": "Equal"}],
        ResultAttributes=[{"TypeName": "Custom:KernelLivePatch"}],
    )["Entities"]
    assert [e["Id"] for e in filtered] == [API]


def test_own_shell_document_enables_live_patching_on_al2023(sim: SimServer, ssm: Any) -> None:
    sim.post(f"/_sim/instances/{API}", {"kpatch_service": "disabled"})
    content = {
        "schemaVersion": "2.2",
        "description": "Enable kernel live patching on AL2023.",
        "parameters": {"Mode": {"type": "String", "default": "auto", "allowedValues": ["auto", "manual"]}},
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "EnableLivePatching",
                "inputs": {
                    "runCommand": [
                        "set -euo pipefail",
                        "dnf install -y kpatch-dnf",
                        "dnf kernel-livepatch -y {{ Mode }}",
                        "dnf install -y kpatch-runtime",
                        "systemctl enable --now kpatch.service",
                        "echo done",
                    ]
                },
            }
        ],
    }
    ssm.create_document(
        Name="LivePatchAutopilot-EnableAL2023", Content=json.dumps(content), DocumentType="Command"
    )
    command = ssm.send_command(InstanceIds=[API], DocumentName="LivePatchAutopilot-EnableAL2023")["Command"]
    sim.post("/_sim/agents/run")
    result = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=API)
    assert (result["Status"], result["StandardOutputContent"].splitlines()[-1]) == ("Success", "done")
    assert sim.get(f"/_sim/instances/{API}")["livepatch"]["kpatch_service"] == "enabled"


# -- events, notifications, faults -------------------------------------------------------------------
def test_events_have_real_envelopes(sim: SimServer, ssm: Any) -> None:
    command_id = scan(ssm, sim, WEB, API)
    (compliance, *_) = events(sim, "Configuration Compliance State Change")
    assert compliance["source"] == "aws.ssm" and compliance["time"] == "2026-12-03T01:00:00Z"
    assert compliance["resources"] == [f"arn:aws:ec2:us-east-1:123456789012:instance/{WEB}"]
    assert compliance["detail"] == {
        "resource-type": "managed-instance",
        "resource-id": WEB,
        "compliance-type": "Patch",
        "compliance-status": "non_compliant",
        "severity": "unspecified",  # the default baseline's compliance level
        "patch-baseline-id": "pb-0be8c61cde3be63f3",
    }
    invocations = events(sim, "EC2 Command Invocation Status-change Notification")
    assert {(e["detail"]["instance-id"], e["detail"]["status"]) for e in invocations} == {
        (WEB, "Success"),
        (API, "Success"),
    }
    (command,) = events(sim, "EC2 Command Status-change Notification")
    assert command["detail"]["command-id"] == command_id
    assert command["detail"]["parameters"] == {"Operation": ["Scan"]}
    assert command["detail"]["status"] == "Success"
    assert command["detail"]["expire-after"] == "2026-12-03T02:00:00.000Z"
    scan(ssm, sim, WEB)  # unchanged compliance: no second compliance event
    assert len(events(sim, "Configuration Compliance State Change")) == 2
    latest = sim.get("/_sim/events?after=4")["events"]
    assert latest[0]["seq"] == 5


def test_sns_publishes_are_recorded(sim: SimServer) -> None:
    sns = sim.client("sns")
    topic = sns.create_topic(Name="livepatch-reports")["TopicArn"]
    message = {
        "default": "3 instances patched",
        "email": "3 instances patched.\n",
        "https": json.dumps({"version": "1.0"}),
    }
    sns.publish(
        TopicArn=topic,
        Subject="Live patch report",
        Message=json.dumps(message),
        MessageStructure="json",
        MessageAttributes={"severity": {"DataType": "String", "StringValue": "critical"}},
    )
    (record,) = sim.get("/_sim/notifications")["notifications"]
    notification = record["notification"]
    assert (notification["topic_arn"], notification["subject"], notification["message_structure"]) == (
        topic,
        "Live patch report",
        "json",
    )
    assert notification["message_by_protocol"] == message
    assert notification["message_attributes"] == {
        "severity": {"DataType": "String", "StringValue": "critical"}
    }
    assert notification["time"] == "2026-12-03T01:00:00Z"


def test_calls_are_recorded_as_iam_actions_by_access_key(sim: SimServer) -> None:
    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=sim.url,
            region_name="us-east-1",
            aws_access_key_id="fn-recorded",
            aws_secret_access_key="test",
        )

    client("ssm").describe_instance_information()
    client("ssm").describe_instance_information()
    topic = client("sns").create_topic(Name="calls")["TopicArn"]
    client("sns").publish(TopicArn=topic, Message="hello")
    client("resourcegroupstaggingapi").get_resources(ResourceTypeFilters=["ec2:instance"])
    # A window task that names a service role passes it: IAM checks iam:PassRole too.
    ssm = client("ssm")
    window = ssm.create_maintenance_window(
        Name="calls", Schedule="at(2027-01-10T03:00:00)", Duration=2, Cutoff=1, AllowUnassociatedTargets=False
    )["WindowId"]
    target = ssm.register_target_with_maintenance_window(
        WindowId=window, ResourceType="INSTANCE", Targets=[{"Key": "InstanceIds", "Values": [WEB]}]
    )["WindowTargetId"]
    for role in ("arn:aws:iam::123456789012:role/window-task", None):
        ssm.register_task_with_maintenance_window(
            WindowId=window,
            Targets=[{"Key": "WindowTargetIds", "Values": [target]}],
            TaskArn="AWS-RunPatchBaseline",
            TaskType="RUN_COMMAND",
            MaxConcurrency="1",
            MaxErrors="1",
            **({"ServiceRoleArn": role} if role else {}),
        )
    mine = {
        c["action"]: c["count"] for c in sim.get("/_sim/calls")["calls"] if c["access_key"] == "fn-recorded"
    }
    # SNS speaks the query protocol (Action in the form), SSM JSON (X-Amz-Target); the tagging
    # API signs as "tagging" but its IAM actions are "tag:".
    assert mine == {
        "ssm:DescribeInstanceInformation": 2,
        "sns:CreateTopic": 1,
        "sns:Publish": 1,
        "tag:GetResources": 1,
        "ssm:CreateMaintenanceWindow": 1,
        "ssm:RegisterTargetWithMaintenanceWindow": 1,
        "ssm:RegisterTaskWithMaintenanceWindow": 2,
        "iam:PassRole": 1,
    }


def test_throttling_fault_answers_a_retryable_error(sim: SimServer, ssm: Any) -> None:
    sim.post("/_sim/faults", {"operation": "SendCommand", "error": "ThrottlingException", "count": 2})
    for _ in range(2):
        with pytest.raises(ClientError) as error:
            ssm.send_command(
                InstanceIds=[WEB], DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Scan"]}
            )
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error.value.response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    ssm.send_command(
        InstanceIds=[WEB], DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Scan"]}
    )
    retrying = sim.client("ssm", attempts=3)  # the SDK retries throttling on its own
    sim.post(
        "/_sim/faults",
        {"operation": "DescribeInstanceInformation", "error": "ThrottlingException", "count": 1},
    )
    assert len(retrying.describe_instance_information()["InstanceInformationList"]) == 3


# -- fleets and the process -------------------------------------------------------------------------
def test_fleet_files_are_validated(server: SimServer) -> None:
    fleet = load_fleet("small.json")
    fleet["instances"][0]["kernal"] = "typo"
    assert fleet_error(server, fleet) == (400, "fleet.instances[0]: unknown field(s) kernal")
    fleet = load_fleet("small.json")
    fleet["instances"][1]["id"] = "i-123"
    status, message = fleet_error(server, fleet)
    assert status == 400 and message.startswith("fleet.instances[1].id: 'i-123' is not")


def test_al2_enable_below_minimum_kernel_reboots(tmp_path_factory: pytest.TempPathFactory) -> None:
    demo = start_server(tmp_path_factory.mktemp("demo"), FLEETS / "demo.json")
    try:
        ssm = demo.client("ssm")
        legacy = "i-0f3a9c2e41b7d5a02"
        command = ssm.send_command(InstanceIds=[legacy], DocumentName="AWS-ConfigureKernelLivePatching")[
            "Command"
        ]
        assert [r["status"] for r in demo.post("/_sim/agents/run")["ran"]] == ["InProgress"]
        assert [r["status"] for r in demo.post("/_sim/agents/run")["ran"]] == ["Success"]
        view = demo.get(f"/_sim/instances/{legacy}")
        assert (view["kernel"], view["livepatch"]["plugin"]) == ("4.14.356-276.571.amzn2.x86_64", True)
        assert ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]["Status"] == "Success"
        (reboot,) = demo.get("/_sim/reboots")["reboots"]
        assert reboot == {
            "instance_id": legacy,
            "time": "2026-12-03T01:00:00Z",
            "from_kernel": "4.14.152-124.171.amzn2.x86_64",
            "to_kernel": "4.14.356-276.571.amzn2.x86_64",
            "command_id": command["CommandId"],
            "document_name": "AWS-ConfigureKernelLivePatching",
            "window_id": None,
            "window_execution_id": None,
        }
    finally:
        demo.stop()


def test_auto_mode_runs_commands_inside_send_command(sim: SimServer, ssm: Any) -> None:
    assert sim.post("/_sim/agents/mode", {"auto": True}) == {"auto": True}
    command = ssm.send_command(
        InstanceIds=[WEB], DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Scan"]}
    )
    assert command["Command"]["Status"] == "Success"
    sim.post("/_sim/agents/mode", {"auto": False})
    pending = ssm.send_command(
        InstanceIds=[WEB], DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Scan"]}
    )
    ssm.cancel_command(CommandId=pending["Command"]["CommandId"])
    assert (
        ssm.list_commands(CommandId=pending["Command"]["CommandId"])["Commands"][0]["Status"] == "Cancelled"
    )


def test_other_services_are_plain_moto_on_the_same_port(sim: SimServer) -> None:
    assert sim.client("sts").get_caller_identity()["Account"] == "123456789012"
    queue = sim.client("sqs").create_queue(QueueName="compliance-buffer")["QueueUrl"]
    assert queue.endswith("/123456789012/compliance-buffer")
    events = sim.client("events")
    events.put_rule(Name="compliance", EventPattern=json.dumps({"source": ["aws.ssm"]}))
    assert [r["Name"] for r in events.list_rules()["Rules"]] == ["compliance"]
    scheduler = sim.client("scheduler")
    scheduler.create_schedule(
        Name="daily-scan",
        ScheduleExpression="cron(0 3 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:lambda:us-east-1:123456789012:function:scan",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
        },
    )
    assert scheduler.get_schedule(Name="daily-scan")["ScheduleExpression"] == "cron(0 3 * * ? *)"


def test_facts_collected_seeds_inventory_of_an_instance_that_stopped_since(sim: SimServer, ssm: Any) -> None:
    fleet = load_fleet("demo.json")
    seeded = [i["id"] for i in fleet["instances"] if "facts_collected" in i]
    assert seeded == ["i-0f3a9c2e41b7d5a0b"], "the stopped instance was scanned before it stopped"
    sim.post("/_sim/fleet", fleet)
    inventory = ssm.get_inventory(ResultAttributes=[{"TypeName": "Custom:KernelLivePatch"}])
    with_facts = {
        entity["Id"]: entity["Data"]["Custom:KernelLivePatch"]
        for entity in inventory["Entities"]
        if entity.get("Data", {}).get("Custom:KernelLivePatch", {}).get("Content")
    }
    assert sorted(with_facts) == seeded
    assert all(item["CaptureTime"] == "2026-11-26T01:00:00Z" for item in with_facts.values())
    unseeded = ssm.list_inventory_entries(InstanceId="i-0f3a9c2e41b7d5a01", TypeName="Custom:KernelLivePatch")
    assert unseeded["Entries"] == []
