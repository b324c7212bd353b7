"""The product's AL2023 live patching document, recognised by name: it really switches live patching."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import SimServer, load_fleet

WEB = "i-0a1b2c3d4e5f60001"  # AL2 5.10
API = "i-0a1b2c3d4e5f60002"  # AL2023 6.1
DOCUMENT = "LivePatchAutopilot-ConfigureKernelLivePatching"


@pytest.fixture
def off(sim: SimServer, ssm: Any) -> SimServer:
    """The small fleet with live patching off on the AL2023 instance, and the document created."""
    fleet = load_fleet("small.json")
    fleet["instances"][1]["livepatch"] = {"plugin": False}
    sim.post("/_sim/fleet", fleet)
    content = {
        "schemaVersion": "2.2",
        "description": "Enable or disable kernel live patching on Amazon Linux 2023.",
        "parameters": {
            "Action": {"type": "String", "default": "Enable", "allowedValues": ["Enable", "Disable"]}
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "configureKernelLivePatching",
                "precondition": {"StringEquals": ["platformType", "Linux"]},
                "inputs": {"runCommand": ["#!/bin/bash\nset -euo pipefail\n# a script livesim cannot run"]},
            }
        ],
    }
    ssm.create_document(Name=DOCUMENT, Content=json.dumps(content), DocumentType="Command")
    return sim


def run(sim: SimServer, ssm: Any, instance: str, action: str) -> dict[str, Any]:
    command = ssm.send_command(InstanceIds=[instance], DocumentName=DOCUMENT, Parameters={"Action": [action]})
    sim.post("/_sim/agents/run")
    return ssm.get_command_invocation(CommandId=command["Command"]["CommandId"], InstanceId=instance)


def test_enable_turns_the_plugin_and_kpatch_service_on_and_is_idempotent(off: SimServer, ssm: Any) -> None:
    view = off.get(f"/_sim/instances/{API}")
    before = view["livepatch"]
    assert (before["plugin"], before["kpatch_service"]) == (False, "disabled")
    for _ in range(2):
        result = run(off, ssm, API, "Enable")
        assert result["Status"] == "Success", result["StandardErrorContent"]
        after = off.get(f"/_sim/instances/{API}")
        assert (after["livepatch"]["plugin"], after["livepatch"]["kpatch_service"]) == (True, "enabled")
        assert (after["booted"], after["kernel"]) == (view["booted"], view["kernel"]), "no reboot"
    output = result["StandardOutputContent"]
    assert output.startswith("Kernel live patching on 6.1.115-126.197.amzn2023.x86_64: Enable\n")
    assert "Loaded patch modules:" in output and output.rstrip().endswith("load at every boot.")


def test_disable_turns_live_patching_off_without_a_reboot_and_leaves_loaded_fixes(
    off: SimServer, ssm: Any
) -> None:
    fleet = load_fleet("small.json")
    fleet["instances"][1]["livepatch"] = {
        "plugin": True,
        "kpatch_service": "enabled",
        "installed": "kernel-livepatch-6.1.115-126.197-1.0-1.amzn2023.x86_64",
    }
    off.post("/_sim/fleet", fleet)
    before = off.get(f"/_sim/instances/{API}")
    assert before["livepatch"]["loaded_modules"], "a live patch is loaded before disabling"
    result = run(off, ssm, API, "Disable")
    assert result["Status"] == "Success", result["StandardErrorContent"]
    view = off.get(f"/_sim/instances/{API}")
    assert (view["livepatch"]["plugin"], view["livepatch"]["kpatch_service"]) == (False, "disabled")
    # kpatch.service is a oneshot without ExecStop: what was loaded stays loaded until a reboot.
    assert view["livepatch"]["loaded_modules"] == before["livepatch"]["loaded_modules"]
    assert view["booted"] == before["booted"]
    assert "Removed:\n  kpatch-dnf" in result["StandardOutputContent"]
    assert "stay in effect until the next reboot" in result["StandardOutputContent"]
    assert run(off, ssm, API, "Disable")["Status"] == "Success", "disabling twice is harmless"


def test_the_document_refuses_amazon_linux_2_and_fails_under_a_held_lock(off: SimServer, ssm: Any) -> None:
    result = run(off, ssm, WEB, "Enable")
    assert (result["Status"], result["ResponseCode"]) == ("Failed", 1)
    assert "Amazon Linux 2023 only" in result["StandardErrorContent"]
    off.post(f"/_sim/instances/{API}", {"failure": "yum_lock"})
    result = run(off, ssm, API, "Enable")
    assert result["Status"] == "Failed"
    assert "Failed to obtain the transaction lock" in result["StandardErrorContent"]
    assert off.get(f"/_sim/instances/{API}")["livepatch"]["plugin"] is False
