"""The local AWS (a livesim server) and a local deployment of template.yaml into it."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from .template import Template, resolve

ROOT = Path(__file__).resolve().parents[3]
SIM_DIR = ROOT / "tests" / "sim"
ACCOUNT = "123456789012"
REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


def client_for(endpoint: str, service: str):
    """A boto3 client for the local AWS at `endpoint`, with the dummy credentials it accepts."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


class LocalAws:
    """A livesim server in a child process, on a free loopback port."""

    def __init__(self, fleet: Path, log_path: Path | None = None, start_timeout_s: float = 60.0):
        self._tmp = tempfile.TemporaryDirectory(prefix="livesim-")
        port_file = Path(self._tmp.name) / "port"
        env = {**os.environ, "PYTHONPATH": str(SIM_DIR)}
        with open(log_path or os.devnull, "ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "livesim",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--port-file",
                    str(port_file),
                    "--fleet",
                    str(fleet),
                ],
                cwd=SIM_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + start_timeout_s
        while not (port_file.exists() and port_file.read_text().strip()):
            if self._process.poll() is not None:
                raise RuntimeError(f"livesim exited with {self._process.returncode} before listening")
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("livesim did not start in time")
            time.sleep(0.05)
        self.endpoint = f"http://127.0.0.1:{int(port_file.read_text())}"

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/_sim/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def client(self, service: str):
        return client_for(self.endpoint, service)

    def sdk_env(self, binary: str | None = None) -> dict[str, str]:
        """What a function process needs to reach this local AWS through the SDK's own settings.

        With `binary`, its calls are signed with an access key naming it (`fn-<binary>`), so that
        `calls_not_allowed` can hold them to its policies.
        """
        env = {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}
        if binary is not None:
            env["AWS_ACCESS_KEY_ID"] = f"{FUNCTION_KEY_PREFIX}{binary}"
        return env

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._tmp.cleanup()


FUNCTION_KEY_PREFIX = "fn-"


def calls_not_allowed(calls: list[dict[str, Any]], allowed: dict[str, list[str]]) -> list[str]:
    """The calls (livesim's `/_sim/calls`) a function made that its policies do not allow."""
    refused = []
    for call in calls:
        binary = call["access_key"].removeprefix(FUNCTION_KEY_PREFIX)
        if binary == call["access_key"]:
            continue
        action = call["action"].lower()
        if not any(fnmatch.fnmatchcase(action, pattern.lower()) for pattern in allowed.get(binary, [])):
            refused.append(
                f"{binary} called {call['action']}, which its policies in template.yaml do not allow"
            )
    return refused


@dataclass
class Deployment:
    refs: dict[str, str]
    environments: dict[str, dict[str, str]]
    #: Per function binary, the IAM actions its policies allow (see `Function.allowed_actions`).
    allowed_actions: dict[str, list[str]]

    def to_json(self) -> dict:
        return {"refs": self.refs, "environments": self.environments, "allowed_actions": self.allowed_actions}


def deploy(aws_endpoint_client, template: Template, overrides: dict[str, str] | None = None) -> Deployment:
    """Creates what the functions use (topics, SSM documents) and resolves each function's environment.

    `aws_endpoint_client(service)` returns a boto3 client for the local AWS.
    """
    refs: dict[str, str] = {
        **template.parameter_defaults(),
        **(overrides or {}),
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::StackName": "livepatch-autopilot",
    }
    for logical_id in template.of_type("AWS::IAM::Role"):
        refs[f"{logical_id}.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/livepatch-autopilot-{logical_id}"
    for logical_id in template.of_type("AWS::KMS::Key"):
        refs[logical_id] = f"local-key-{logical_id}"
        refs[f"{logical_id}.Arn"] = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/local-key-{logical_id}"
    sns = aws_endpoint_client("sns")
    for logical_id in template.of_type("AWS::SNS::Topic"):
        refs[logical_id] = sns.create_topic(Name=f"livepatch-autopilot-{logical_id}")["TopicArn"]
    ssm = aws_endpoint_client("ssm")
    for logical_id, resource in template.of_type("AWS::SSM::Document").items():
        props = resolve(resource["Properties"], refs)
        name = props.get("Name", logical_id)
        try:
            ssm.create_document(
                Name=name,
                Content=json.dumps(props["Content"]),
                DocumentType=props.get("DocumentType", "Command"),
                DocumentFormat="JSON",
            )
        except ssm.exceptions.DocumentAlreadyExists:
            ssm.update_document(
                Name=name,
                Content=json.dumps(props["Content"]),
                DocumentVersion="$LATEST",
                DocumentFormat="JSON",
            )
        refs[logical_id] = name
    for logical_id, resource in template.of_type("AWS::SSM::PatchBaseline").items():
        refs[logical_id] = create_baseline(ssm, resolve(resource["Properties"], refs))
    environments = {
        function.binary: {k: str(resolve(v, refs)) for k, v in function.environment.items()}
        for function in template.functions()
    }
    allowed = {function.binary: function.allowed_actions() for function in template.functions()}
    return Deployment(refs, environments, allowed)


def create_baseline(ssm, props: dict) -> str:
    """Creates a patch baseline as CloudFormation would, registered for its patch groups."""
    rules = props.get("ApprovalRules", {}).get("PatchRules", [])
    for rule in rules:
        if "ApproveAfterDays" in rule:
            rule["ApproveAfterDays"] = int(rule["ApproveAfterDays"])
    baseline_id = ssm.create_patch_baseline(
        Name=props["Name"],
        OperatingSystem=props["OperatingSystem"],
        Description=props.get("Description", ""),
        ApprovalRules={"PatchRules": rules},
    )["BaselineId"]
    for group in props.get("PatchGroups", []):
        ssm.register_patch_baseline_for_patch_group(BaselineId=baseline_id, PatchGroup=group)
    return baseline_id
