"""SSM documents: the AWS-owned ones the fleet answers, and what Run Command reads from any document."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from moto.ssm.models import Document, Documents, SimpleSystemManagerBackend

from .errors import SsmError

RUN_PATCH_BASELINE = "AWS-RunPatchBaseline"
CONFIGURE_KLP = "AWS-ConfigureKernelLivePatching"
RUN_SHELL_SCRIPT = "AWS-RunShellScript"
_SNAPSHOT_ID = r"(^$)|^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


def _linux_step(name: str, platform: str, action: str = "aws:runShellScript") -> dict[str, Any]:
    return {
        "precondition": {"StringEquals": ["platformType", platform]},
        "action": action,
        "name": name,
        "inputs": {"runCommand": ["# simulated by livesim"]},
    }


_AWS_DOCUMENTS: dict[str, dict[str, Any]] = {
    RUN_PATCH_BASELINE: {
        "schemaVersion": "2.2",
        "description": "Scans or installs patches from a patch baseline on a managed node.",
        "parameters": {
            "Operation": {
                "type": "String",
                "allowedValues": ["Scan", "Install"],
                "description": "(Required) The update or configuration to perform on the instance.",
            },
            "SnapshotId": {
                "type": "String",
                "default": "",
                "allowedPattern": _SNAPSHOT_ID,
            },
            "InstallOverrideList": {"type": "String", "default": ""},
            "BaselineOverride": {"type": "String", "default": ""},
            "RebootOption": {
                "type": "String",
                "default": "RebootIfNeeded",
                "allowedValues": ["RebootIfNeeded", "NoReboot"],
            },
        },
        "mainSteps": [
            _linux_step("PatchWindows", "Windows", "aws:runPowerShellScript"),
            _linux_step("PatchLinux", "Linux"),
            _linux_step("PatchMacOS", "MacOS"),
        ],
    },
    CONFIGURE_KLP: {
        "schemaVersion": "2.2",
        "description": "Enables or disables Kernel Live Patching on Amazon Linux 2 instances.",
        "parameters": {
            "EnableOrDisable": {
                "type": "String",
                "default": "Enable",
                "allowedValues": ["Enable", "Disable"],
            },
        },
        "mainSteps": [_linux_step("ConfigureKernelLivePatching", "Linux")],
    },
    RUN_SHELL_SCRIPT: {
        "schemaVersion": "1.2",
        "description": "Run a shell script or specify the commands to run.",
        "parameters": {
            "commands": {
                "type": "StringList",
                "description": "(Required) Specify a shell script or a command to run.",
            },
            "workingDirectory": {"type": "String", "default": ""},
            "executionTimeout": {"type": "String", "default": "3600"},
        },
        "runtimeConfig": {
            "aws:runShellScript": {
                "properties": [{"id": "0.aws:runShellScript", "runCommand": "{{ commands }}"}]
            }
        },
    },
}


def ensure_aws_documents(backend: SimpleSystemManagerBackend) -> None:
    """Make the AWS-owned documents describable and listable, as they are in every account."""
    for name, content in _AWS_DOCUMENTS.items():
        if name in backend._documents:
            continue
        document = Document(
            account_id="Amazon",
            name=name,
            version_name="",
            content=json.dumps(content),
            document_type="Command",
            document_format="JSON",
            requires=[],
            attachments=[],
            target_type="/AWS::EC2::Instance",
        )
        document.platform_types = platform_types(content)
        backend._documents[name] = Documents(document)


def platform_types(content: dict[str, Any]) -> list[str]:
    """What DescribeDocument reports, from the document's actions (moto says "Not Implemented")."""
    actions = [step.get("action", "") for step in content.get("mainSteps", [])]
    actions += list(content.get("runtimeConfig", {}))
    types = set()
    for action in actions:
        if action in ("aws:runShellScript", "aws:softwareInventory", "aws:configurePackage"):
            types |= {"Linux", "MacOS"}
        if action in ("aws:runPowerShellScript", "aws:softwareInventory", "aws:configurePackage"):
            types.add("Windows")
    return sorted(types) or ["Linux", "MacOS", "Windows"]


@dataclass(frozen=True)
class Step:
    """One step (plugin) of a Command document."""

    name: str
    action: str
    platform: str | None  # the platformType precondition, if any
    commands: tuple[str, ...]  # runCommand entries, before parameter substitution


@dataclass(frozen=True)
class CommandDocument:
    """What Run Command needs from a document: its steps and its parameters."""

    name: str
    version: str
    steps: tuple[Step, ...]
    parameters: dict[str, dict[str, Any]]

    def resolve_parameters(self, given: dict[str, list[str]]) -> dict[str, list[str]]:
        """Validate as SendCommand does and fill defaults; raises InvalidParameters."""
        for name, values in given.items():
            if name not in self.parameters:
                raise SsmError(
                    "InvalidParameters", f'Parameter "{name}" is not defined in document {self.name}.'
                )
            spec = self.parameters[name]
            if spec.get("type", "String") == "String" and len(values) != 1:
                raise SsmError("InvalidParameters", f'Parameter "{name}" takes exactly one value.')
            allowed = spec.get("allowedValues")
            if allowed and any(v not in allowed for v in values):
                raise SsmError(
                    "InvalidParameters",
                    f'Parameter "{name}" has value {values} not in allowed values {allowed}.',
                )
            pattern = spec.get("allowedPattern")
            if pattern and not all(re.search(pattern, v) for v in values):
                raise SsmError(
                    "InvalidParameters",
                    f'Parameter "{name}" has value {values} that does not match pattern {pattern}.',
                )
        resolved = {}
        for name, spec in self.parameters.items():
            if name in given:
                resolved[name] = list(given[name])
            elif "default" in spec:
                default = spec["default"]
                resolved[name] = list(default) if isinstance(default, list) else [str(default)]
            else:
                raise SsmError(
                    "InvalidParameters", f'Parameter "{name}" is required by document {self.name}.'
                )
        return resolved

    def shell_lines(self, step: Step, parameters: dict[str, list[str]]) -> list[str]:
        """A runShellScript step's commands with `{{ Param }}` substituted."""
        return [line for entry in step.commands for line in _substitute(entry, parameters)]


def _substitute(entry: str, parameters: dict[str, list[str]]) -> list[str]:
    whole = _PLACEHOLDER.fullmatch(entry.strip())
    if whole and whole.group(1) in parameters:  # a StringList fills whole lines
        return [line for value in parameters[whole.group(1)] for line in value.splitlines()]
    text = _PLACEHOLDER.sub(lambda m: " ".join(parameters.get(m.group(1), [m.group(0)])), entry)
    return text.splitlines()


def command_document(backend: SimpleSystemManagerBackend, name: str, version: str | None) -> CommandDocument:
    """The document SendCommand names; InvalidDocument when it does not exist or is no Command."""
    ensure_aws_documents(backend)
    short_name = name.rsplit("document/", 1)[-1] if name.startswith("arn:") else name
    documents = backend._documents.get(short_name)
    if documents is None:
        raise SsmError("InvalidDocument", "Document with that name does not exist.")
    wanted = None if version in (None, "", "$DEFAULT") else version
    document = documents.get_latest_version() if version == "$LATEST" else None
    if document is None:
        document = documents.find_by_version(wanted) if wanted else documents.get_default_version()
    if document is None:
        raise SsmError("InvalidDocumentVersion", "The document version is not valid or does not exist.")
    if document.document_type != "Command":
        raise SsmError("InvalidDocument", f"Document {short_name} is not of type Command.")
    content = document.content_json
    return CommandDocument(
        short_name, document.document_version, _steps(content), content.get("parameters") or {}
    )


def _steps(content: dict[str, Any]) -> tuple[Step, ...]:
    if content.get("mainSteps"):
        return tuple(
            Step(
                step["name"],
                step.get("action", ""),
                _precondition_platform(step),
                _as_list(step.get("inputs", {}).get("runCommand", [])),
            )
            for step in content["mainSteps"]
        )
    steps = []
    for action, config in content.get("runtimeConfig", {}).items():
        properties = config.get("properties", [{}])
        first = properties[0] if isinstance(properties, list) and properties else {}
        steps.append(Step(action, action, None, _as_list(first.get("runCommand", []))))
    return tuple(steps)


def _precondition_platform(step: dict[str, Any]) -> str | None:
    condition = step.get("precondition", {}).get("StringEquals", [])
    return condition[1] if len(condition) == 2 and condition[0] == "platformType" else None


def _as_list(commands: Any) -> tuple[str, ...]:
    return tuple(commands) if isinstance(commands, list) else (str(commands),)
