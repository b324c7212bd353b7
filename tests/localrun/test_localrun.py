"""The local runner's wiring (read from template.yaml) and the real binaries behind the Runtime API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from localrun import router
from localrun.runtime_api import LambdaFunction
from localrun.stack import ROOT, LocalAws, deploy
from localrun.template import Template, resolve

EVENTS = ROOT / "events"
BIN = ROOT / "target" / "debug"


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(ROOT / "template.yaml")


def sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_a_non_compliant_event_reaches_install_through_the_queue(template):
    assert router.routes(template, sample("compliance-non-compliant.json")) == [
        router.Route("install", "InstallQueue")
    ]


def test_the_upper_case_spelling_ssm_never_sends_matches_nothing(template):
    event = sample("compliance-non-compliant.json")
    event["detail"]["compliance-status"] = "NON_COMPLIANT"
    assert router.routes(template, event) == []


def test_compliant_and_other_compliance_types_are_not_routed(template):
    for field, value in [("compliance-status", "compliant"), ("compliance-type", "Association")]:
        event = sample("compliance-non-compliant.json")
        event["detail"][field] = value
        assert router.routes(template, event) == [], field


def test_finished_commands_of_the_products_documents_and_windows_reach_report(template):
    assert router.routes(template, sample("command-status-failed.json")) == [router.Route("report")]
    assert router.routes(template, sample("window-execution.json")) == [router.Route("report")]
    facts = sample("command-status-failed.json")
    facts["detail"]["document-name"] = "LivePatchAutopilot-KernelFacts"
    assert router.routes(template, facts) == [router.Route("report")]
    for field, value in [("document-name", "AWS-RunShellScript"), ("status", "InProgress")]:
        other = sample("command-status-failed.json")
        other["detail"][field] = value
        assert router.routes(template, other) == [], field
    window = sample("window-execution.json")
    window["detail"]["status"] = "IN_PROGRESS"
    assert router.routes(template, window) == []


def test_every_queued_sample_record_is_an_event_the_rule_routes(template):
    for record in sample("sqs-compliance-batch.json")["Records"]:
        assert router.routes(template, json.loads(record["body"])) == [
            router.Route("install", "InstallQueue")
        ]


def test_every_schedule_names_a_function_the_workspace_builds(template):
    binaries = {binary for binary, _ in router.scheduled(template)}
    assert {"scan", "install", "enable", "report"} <= binaries
    for binary in binaries:
        assert (ROOT / "functions" / binary / "Cargo.toml").exists()


@pytest.fixture
def local_aws():
    aws = LocalAws(ROOT / "tests" / "fleets" / "small.json")
    yield aws
    aws.close()


def start(aws: LocalAws, template: Template, binary: str, drop: str | None = None, log: Path | None = None):
    if not (BIN / binary).exists():
        pytest.skip(f"{BIN / binary} is not built (cargo build --bins)")
    env = {**deploy(aws.client, template).environments[binary], **aws.sdk_env()}
    if drop:
        env[drop] = ""
    return LambdaFunction(binary, str(BIN / binary), env, timeout_s=60, log_path=str(log) if log else None)


def test_a_payload_that_is_not_json_fails_the_invocation_and_writes_nothing(local_aws, template):
    function = start(local_aws, template, "scan")
    try:
        result = function.invoke(b"this is not json")
        assert not result.ok
        assert "deserial" in result.error_message.lower() or "json" in result.error_message.lower()
        result = function.invoke({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
        assert not result.ok
        assert 'lacks the required field "id"' in result.error_message
        # The function is still serving after refusals, and its good invocation works.
        assert function.invoke(sample("scheduled-scan.json")).ok
    finally:
        function.close()
    commands = local_aws.control("GET", "commands")["commands"]
    assert len(commands) == 2, "only the good event sent commands"


def test_a_missing_setting_stops_the_function_before_any_event(local_aws, template, tmp_path):
    log = tmp_path / "scan.log"
    function = start(local_aws, template, "scan", drop="NOTIFY_TOPIC_ARN", log=log)
    try:
        result = function.invoke(sample("scheduled-scan.json"))
    finally:
        function.close()
    assert not result.ok
    assert "setting NOTIFY_TOPIC_ARN: is required but not set" in log.read_text()
    assert local_aws.control("GET", "commands")["commands"] == []


def test_template_functions_and_workspace_crates_are_the_same_set(template):
    in_template = {f.binary for f in template.functions()}
    crates = {p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml")}
    assert in_template == crates
    workspace = (ROOT / "Cargo.toml").read_text()
    for crate in crates:
        assert f'"functions/{crate}"' in workspace, crate


def test_every_event_pattern_has_a_sample_that_it_matches(template):
    samples = [json.loads(p.read_text()) for p in EVENTS.glob("*.json")]
    samples += [json.loads(r["body"]) for s in samples for r in s.get("Records", [])]
    patterns = [r["Properties"]["EventPattern"] for r in template.of_type("AWS::Events::Rule").values()]
    patterns += [
        spec["Properties"]["Pattern"]
        for f in template.functions()
        for spec in f.events.values()
        if spec.get("Type") in ("EventBridgeRule", "CloudWatchEvent")
    ]
    assert patterns
    refs = router.static_refs(template)
    for pattern in patterns:
        pattern = resolve(pattern, refs)  # `!Ref`s as a deployment resolves them (AWS::AccountId too)
        assert any(router.matches(pattern, s) for s in samples), pattern
    schedules = router.scheduled(template)
    assert schedules
    assert any(s.get("detail-type") == "Scheduled Event" for s in samples)


def test_every_function_setting_in_the_template_is_read_by_the_code(template):
    sources = "".join(p.read_text() for p in ROOT.glob("functions/*/src/*.rs"))
    for function in template.functions():
        for variable in function.environment:
            assert f'"{variable}"' in sources, f"{function.binary}: {variable} is set but never read"


def test_the_baselines_are_registered_for_the_patch_group_per_os(local_aws, template):
    deployment = deploy(local_aws.client, template)
    ssm = local_aws.client("ssm")
    group = template.parameter_defaults()["PatchGroup"]
    for logical_id, os_name in [
        ("AmazonLinux2Baseline", "AMAZON_LINUX_2"),
        ("AmazonLinux2023Baseline", "AMAZON_LINUX_2023"),
    ]:
        registered = ssm.get_patch_baseline_for_patch_group(PatchGroup=group, OperatingSystem=os_name)
        assert registered["BaselineId"] == deployment.refs[logical_id], os_name


def test_commands_reach_instances_only_through_the_scoped_policy(template):
    """Each function's own policy names the documents it may run; which instances it may run them
    on is the one policy that carries the optional ssm:resourceTag condition (ScopeTagKey)."""
    senders = set()
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []):
                actions = statement.get("Action")
                actions = actions if isinstance(actions, list) else [actions]
                if "ssm:SendCommand" not in actions:
                    continue
                senders.add(logical_id)
                resources = json.dumps(statement.get("Resource"))
                assert "instance/*" not in resources, (
                    f"{logical_id} sends to instances outside the scope policy"
                )
                assert ":document/" in resources, logical_id
    # The maintenance windows' tasks run as WindowTaskRole: held to the same scope, and to the
    # documents the windows run.
    task_role = template.body["Resources"]["WindowTaskRole"]["Properties"]
    assert task_role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ssm.amazonaws.com"
    }
    for policy in task_role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Action"] == "ssm:SendCommand":
                senders.add("WindowTask")
                resources = json.dumps(statement["Resource"])
                assert "instance/*" not in resources and ":document/" in resources
    assert "WindowTask" in senders
    scoped = template.body["Resources"]["SendCommandToInstancesPolicy"]["Properties"]
    assert {ref["Ref"] for ref in scoped["Roles"]} == {f"{f}Role" for f in senders}
    with_tag, without_tag = scoped["PolicyDocument"]["Fn::If"][1:]
    assert "ssm:resourceTag/${ScopeTagKey}" in with_tag["Fn::Sub"][0]
    rendered = with_tag["Fn::Sub"][0].replace("${Values}", "prod").replace("${ScopeTagKey}", "Environment")
    for name in ("AWS::Partition", "AWS::Region", "AWS::AccountId"):
        rendered = rendered.replace("${" + name + "}", "x")
    document = json.loads(rendered)
    assert document["Statement"][0]["Condition"] == {
        "StringEquals": {"ssm:resourceTag/Environment": ["prod"]}
    }
    assert without_tag["Statement"][0]["Action"] == "ssm:SendCommand"


def test_scope_tag_parameters_refuse_what_would_break_the_policy_json(template):
    """ScopeTagKey and ScopeTagValues are pasted into a JSON policy by Fn::Sub: a double quote or
    a backslash in them would make the policy invalid (or widen it), so the stack refuses them up
    front. AWS tag keys and values never contain either."""
    for name in ("ScopeTagKey", "ScopeTagValues"):
        parameter = template.body["Parameters"][name]
        pattern = parameter.get("AllowedPattern")
        assert pattern, f"{name} has no AllowedPattern"
        # CloudFormation matches the whole value (each element of a CommaDelimitedList).
        for good in ("", "prod", "team:web/api-1", "Env=Prod+2 @x_y.z"):
            assert re.fullmatch(pattern, good), (name, good)
        for bad in ('prod"', 'a"]}, {"x', "back\\slash"):
            assert not re.fullmatch(pattern, bad), (name, bad)
