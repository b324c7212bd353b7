"""The enable function's wiring in template.yaml, and its real binary behind the Runtime API."""

from __future__ import annotations

import json

import pytest
from localrun import router
from localrun.runtime_api import LambdaFunction
from localrun.stack import ROOT, LocalAws, deploy
from localrun.template import Template

BIN = ROOT / "target" / "debug"


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(ROOT / "template.yaml")


def sample(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


def test_manual_requests_reach_enable_only_and_other_sources_nothing(template):
    for name in ["manual-enable.json", "manual-disable.json"]:
        assert router.routes(template, sample(name)) == [router.Route("enable")], name
    forged = sample("manual-disable.json")
    forged["source"] = "aws.ssm"
    assert router.routes(template, forged) == []


def test_manual_requests_from_another_account_reach_nothing(template):
    pattern = template.resources["EnableFunction"]["Properties"]["Events"]["ManualRequest"]
    assert pattern["Properties"]["Pattern"]["account"] == [{"Ref": "AWS::AccountId"}]
    for name in ["manual-enable.json", "manual-disable.json"]:
        elsewhere = sample(name)
        elsewhere["account"] = "210987654321"
        assert router.routes(template, elsewhere) == [], name


def create_window_statements(template, function):
    statements = template.resources[function]["Properties"]["Policies"][0]["Statement"]
    return [s for s in statements if "ssm:CreateMaintenanceWindow" in json.dumps(s["Action"])]


def test_create_maintenance_window_is_granted_on_any_resource_but_only_with_the_products_tags(template):
    # The Service Authorization Reference lists no resource type for CreateMaintenanceWindow, only
    # the condition keys aws:RequestTag/${TagKey} and aws:TagKeys: a window ARN never matches it.
    expected = {
        "EnableFunction": ("livepatch-autopilot:purpose", "disable-live-patching"),
        "PlanRebootsFunction": ("livepatch-autopilot:booking", "reboot"),
    }
    for function, (key, value) in expected.items():
        (statement,) = create_window_statements(template, function)
        assert statement["Action"] == "ssm:CreateMaintenanceWindow", function
        assert statement["Resource"] == "*", function
        condition = statement["Condition"]
        assert condition["StringEquals"] == {f"aws:RequestTag/{key}": value}, function
        tag_keys = next(v for k, v in condition.items() if k.startswith("ForAllValues:"))
        assert "aws:TagKeys" in tag_keys, function


def test_the_daily_schedule_runs_after_the_scan(template):
    schedules = dict(router.scheduled(template))
    assert schedules["enable"] == {"Ref": "EnableSchedule"}
    defaults = template.parameter_defaults()
    assert (defaults["ScanSchedule"], defaults["EnableSchedule"]) == (
        "cron(0 1 * * ? *)",
        "cron(0 2 * * ? *)",
    )
    assert sample("scheduled-enable.json")["detail-type"] == "Scheduled Event"


def test_enable_may_send_only_the_two_live_patching_documents(template):
    function = template.resources["EnableFunction"]
    statements = function["Properties"]["Policies"][0]["Statement"]
    sends = [s for s in statements if s["Action"] == "ssm:SendCommand"]
    assert len(sends) == 1
    documents = [r["Fn::Sub"] for r in sends[0]["Resource"] if "document/" in r["Fn::Sub"]]
    assert documents == [
        "arn:${AWS::Partition}:ssm:${AWS::Region}::document/AWS-ConfigureKernelLivePatching",
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/${LivePatchingDocument}",
    ]
    windows = [s for s in statements if "maintenancewindow" in json.dumps(s.get("Resource"))]
    assert windows and all("Condition" in s for s in windows), "only its own, tagged windows"
    assert all(s["Action"] != "*" for s in statements)


def test_the_al2023_document_is_deployed_and_named_in_the_function_environment(template):
    aws = LocalAws(ROOT / "tests" / "fleets" / "small.json")
    try:
        deployment = deploy(aws.client, template)
        name = deployment.environments["enable"]["AL2023_LIVEPATCH_DOCUMENT"]
        assert name == "LivePatchAutopilot-ConfigureKernelLivePatching"
        document = aws.client("ssm").describe_document(Name=name)["Document"]
        assert document["DocumentType"] == "Command"
        assert sorted(p["Name"] for p in document["Parameters"]) == ["Action", "StepTimeoutSeconds"]
    finally:
        aws.close()


def test_the_binary_answers_manual_requests_and_refuses_an_unconfirmed_disable(template):
    if not (BIN / "enable").exists():
        pytest.skip(f"{BIN / 'enable'} is not built (cargo build --bins)")
    aws = LocalAws(ROOT / "tests" / "fleets" / "demo.json")
    try:
        env = {**deploy(aws.client, template).environments["enable"], **aws.sdk_env()}
        function = LambdaFunction("enable", str(BIN / "enable"), env, timeout_s=60)
        try:
            unconfirmed = sample("manual-disable.json")
            del unconfirmed["detail"]["confirm"]
            refused = function.invoke(unconfirmed)
            assert refused.ok, refused.error_message
            assert "DISABLE LIVE PATCHING ON 2 INSTANCES" in refused.payload["refused"]
            answered = function.invoke(sample("manual-enable.json"))
            assert answered.ok, answered.error_message
            assert answered.payload["refused"] is None
            (skip,) = answered.payload["skipped"]
            assert skip["reason"] == "no kernel facts yet; the next scan collects them"
            malformed = function.invoke({"source": "livepatch-autopilot.manual", "detail": {}})
            assert not malformed.ok
        finally:
            function.close()
        assert aws.control("GET", "commands")["commands"] == []
        subjects = [
            n["notification"]["subject"] for n in aws.control("GET", "notifications")["notifications"]
        ]
        assert any("request refused" in s for s in subjects), subjects
    finally:
        aws.close()
