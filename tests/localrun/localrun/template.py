"""Reads template.yaml (CloudFormation short-form tags included) so local wiring is the deployed wiring."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class _Tag:
    """A CloudFormation intrinsic kept as data: `!Ref X` becomes {"Ref": "X"}."""


def _intrinsic(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        key = "Ref" if name == "Ref" else name
        return {key: value}

    return construct


class _Loader(yaml.SafeLoader):
    pass


for _tag in [
    "Ref",
    "Sub",
    "GetAtt",
    "Join",
    "Select",
    "Split",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "ImportValue",
    "Base64",
    "Condition",
    "GetAZs",
    "Cidr",
]:
    _Loader.add_constructor(f"!{_tag}", _intrinsic("Ref" if _tag == "Ref" else f"Fn::{_tag}"))


@dataclass
class Function:
    logical_id: str
    binary: str
    environment: dict[str, Any]
    events: dict[str, dict] = field(default_factory=dict)
    policies: list[Any] = field(default_factory=list)

    def allowed_actions(self) -> list[str]:
        """The IAM actions its inline policies allow (patterns such as `ssm:Describe*` kept as they are).

        Resources and conditions are not evaluated: this is what the function may call at all.
        """
        actions: set[str] = set()
        for policy in self.policies:
            statements = policy.get("Statement", []) if isinstance(policy, dict) else []
            for statement in statements if isinstance(statements, list) else [statements]:
                if statement.get("Effect") != "Allow":
                    continue
                action = statement.get("Action", [])
                actions.update([action] if isinstance(action, str) else action)
        return sorted(actions)


@dataclass
class Template:
    path: Path
    body: dict

    @classmethod
    def load(cls, path: Path) -> Template:
        return cls(path, yaml.load(path.read_text(), Loader=_Loader))

    @property
    def resources(self) -> dict[str, dict]:
        return self.body.get("Resources", {})

    def parameter_defaults(self) -> dict[str, str]:
        return {k: str(v.get("Default", "")) for k, v in self.body.get("Parameters", {}).items()}

    def of_type(self, resource_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == resource_type}

    def functions(self) -> list[Function]:
        globals_env = (
            self.body.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        out = []
        for logical_id, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource.get("Properties", {})
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary", logical_id)
            env = dict(globals_env)
            env.update(props.get("Environment", {}).get("Variables", {}))
            out.append(Function(logical_id, binary, env, props.get("Events", {}), props.get("Policies", [])))
        return out

    def function(self, binary: str) -> Function:
        for function in self.functions():
            if function.binary == binary:
                return function
        raise KeyError(f"template.yaml has no function whose binary is {binary!r}")


def resolve(value: Any, refs: dict[str, str]) -> Any:
    """Resolves the intrinsics a local deployment needs: Ref, Sub (with ${X} references) and GetAtt."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            if arg not in refs:
                raise KeyError(f"template reference {arg!r} has no local value")
            return refs[arg]
        if key == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            extra = {} if isinstance(arg, str) else {k: resolve(v, refs) for k, v in arg[1].items()}
            for name, replacement in {**refs, **extra}.items():
                text = text.replace("${" + name + "}", str(replacement))
            return text
        if key == "Fn::GetAtt":
            return refs.get(".".join(arg), refs.get(arg[0]))
    if isinstance(value, dict):
        return {k: resolve(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    return value
