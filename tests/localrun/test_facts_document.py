"""The kernel facts document's script from template.yaml, run against stub commands: what it would
send to PutInventory must be valid for the API, and the inventory file must have the folder's form."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import validate_parameters
from localrun.stack import ROOT
from localrun.template import Template

INSTANCE = "i-0a1b2c3d4e5f60001"
CAPTURE_TIME = re.compile(
    r"^(20)[0-9][0-9]-(0[1-9]|1[012])-([12][0-9]|3[01]|0[1-9])T(2[0-3]|[0-1][0-9])(:[0-5][0-9]){2}Z$"
)
KPATCH_LIST = """Loaded patch modules:
livepatch_CVE_2026_21001 [enabled]

Installed patch modules:
livepatch_CVE_2026_21001 (5.10.227-219.884.amzn2.x86_64)
livepatch_CVE_2026_21017 (5.10.227-219.884.amzn2.x86_64)"""
# `yum/dnf updateinfo list`: the facts keep the live patch lines only.
UPDATEINFO = """ALAS2-2026-2801 important/Sec. kernel-5.10.228-220.886.amzn2.x86_64
ALAS2LIVEPATCH-2026-031 important/Sec. kernel-livepatch-5.10.227-219.884-1.0-2.amzn2.x86_64
ALAS2LIVEPATCH-2026-034 critical/Sec. kernel-livepatch-5.10.227-219.884-1.0-3.amzn2.x86_64
ALAS2-2026-2810 medium/Sec. openssl-1.0.2k-24.amzn2.0.15.x86_64"""
LIVEPATCH_LINES = "\n".join(line for line in UPDATEINFO.splitlines() if "kernel-livepatch-" in line)


def script() -> str:
    document = Template.load(ROOT / "template.yaml").resources["KernelFactsDocument"]
    steps = document["Properties"]["Content"]["mainSteps"]
    return steps[0]["inputs"]["runCommand"][0]


def stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)


def run(tmp_path: Path, version: str, kernel: str) -> tuple[subprocess.CompletedProcess, Path]:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    stub(
        stubs,
        "uname",
        f'case "$1" in -r) echo {kernel};; -v) echo "#1 SMP Tue Oct 13 18:21:30 UTC 2026";; '
        "-m) echo x86_64;; esac",
    )
    stub(stubs, "rpm", "exit 0")
    stub(stubs, "systemctl", 'case "$1" in is-enabled) echo enabled;; is-active) echo active;; esac')
    stub(stubs, "kpatch", f"cat <<'OUT'\n{KPATCH_LIST}\nOUT")
    updateinfo = f"case \"$*\" in *updateinfo*)\ncat <<'OUT'\n{UPDATEINFO}\nOUT\nexit 0;;\nesac"
    support = f"echo 'kernel-{kernel} will no longer receive live patches after 2027-04-21.'"
    stub(stubs, "dnf", f"{updateinfo}\n{support}")
    stub(stubs, "yum", updateinfo)
    calls = tmp_path / "aws-calls.json"
    stub(
        stubs, "aws", f"""python3 -c 'import json,sys; json.dump(sys.argv[1:], open("{calls}", "w"))' "$@" """
    )
    os_release = tmp_path / "os-release"
    os_release.write_text(f'NAME="Amazon Linux"\nID="amzn"\nVERSION_ID="{version}"\n')
    env = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "AWS_SSM_INSTANCE_ID": INSTANCE,
        "AWS_SSM_REGION_NAME": "us-east-1",
        "KERNEL_FACTS_OS_RELEASE": str(os_release),
        "KERNEL_FACTS_SSM_DIR": str(tmp_path / "ssm"),
        "HOME": str(tmp_path),
    }
    result = subprocess.run(["bash", "-c", script()], env=env, capture_output=True, text=True, timeout=60)
    return result, calls


def put_inventory_items(calls: Path) -> list[dict]:
    args = json.loads(calls.read_text())
    assert args[:2] == ["ssm", "put-inventory"]
    assert args[args.index("--instance-id") + 1] == INSTANCE
    assert args[args.index("--region") + 1] == "us-east-1"
    return json.loads(args[args.index("--items") + 1])


def test_al2_facts_are_a_valid_put_inventory_request_and_an_inventory_file(tmp_path):
    result, calls = run(tmp_path, "2", "5.10.227-219.884.amzn2.x86_64")
    assert result.returncode == 0, result.stderr
    items = put_inventory_items(calls)
    model = botocore.session.get_session().get_service_model("ssm").operation_model("PutInventory")
    validate_parameters({"InstanceId": INSTANCE, "Items": items}, model.input_shape)  # raises if invalid
    (item,) = items
    assert item["TypeName"] == "Custom:KernelLivePatch"
    assert CAPTURE_TIME.match(item["CaptureTime"]), item["CaptureTime"]
    (content,) = item["Content"]
    assert all(isinstance(v, str) for v in content.values())
    assert content["KernelRelease"] == "5.10.227-219.884.amzn2.x86_64"
    assert content["KernelVersion"] == "#1 SMP Tue Oct 13 18:21:30 UTC 2026"
    assert content["LivePatchPlugin"] == "installed"
    assert content["KpatchServiceEnabled"] == "enabled"
    assert content["KpatchList"] == KPATCH_LIST
    assert content["SupportOutput"] == ""
    assert content["LivePatchAdvisories"] == LIVEPATCH_LINES
    stored = json.loads(
        (tmp_path / "ssm" / INSTANCE / "inventory" / "custom" / "KernelLivePatch.json").read_text()
    )
    assert stored["Content"] == content, "the inventory folder takes Content as one object"
    assert json.loads(result.stdout) == items


def test_al2023_facts_carry_the_support_sentence(tmp_path):
    result, calls = run(tmp_path, "2023", "6.1.115-126.197.amzn2023.x86_64")
    assert result.returncode == 0, result.stderr
    (content,) = put_inventory_items(calls)[0]["Content"]
    assert content["SupportOutput"].endswith("will no longer receive live patches after 2027-04-21.")
    assert content["OsVersion"] == "2023"
    assert content["LivePatchAdvisories"] == LIVEPATCH_LINES


def test_a_failed_upload_fails_the_command(tmp_path):
    result, calls = run(tmp_path, "2", "5.10.227-219.884.amzn2.x86_64")
    assert result.returncode == 0
    stub(tmp_path / "bin", "aws", "exit 255")
    env_path = f"{tmp_path / 'bin'}:/usr/bin:/bin"
    failed = subprocess.run(
        ["bash", "-c", script()],
        env={
            **os.environ,
            "PATH": env_path,
            "AWS_SSM_INSTANCE_ID": INSTANCE,
            "KERNEL_FACTS_OS_RELEASE": str(tmp_path / "os-release"),
            "KERNEL_FACTS_SSM_DIR": str(tmp_path / "ssm"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert "put-inventory failed" in failed.stderr


@pytest.mark.parametrize("version", ["2", "2023"])
def test_the_simulated_fleet_accepts_what_the_script_uploads(tmp_path, version):
    from localrun.stack import LocalAws

    kernel = "5.10.227-219.884.amzn2.x86_64" if version == "2" else "6.1.115-126.197.amzn2023.x86_64"
    result, calls = run(tmp_path, version, kernel)
    assert result.returncode == 0, result.stderr
    aws = LocalAws(ROOT / "tests" / "fleets" / "small.json")
    try:
        ssm = aws.client("ssm")
        ssm.put_inventory(InstanceId=INSTANCE, Items=put_inventory_items(calls))
        entries = ssm.list_inventory_entries(InstanceId=INSTANCE, TypeName="Custom:KernelLivePatch")
        assert entries["Entries"][0]["KernelRelease"] == kernel
    finally:
        aws.close()
