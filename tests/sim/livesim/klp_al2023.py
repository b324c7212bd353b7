"""The product's own AL2023 live patching document (`Action` = Enable | Disable) on one instance.

AWS ships no such document for AL2023; the product's is a bash script that livesim's line-by-line
shell cannot run (functions, retry loops), so it is recognised by name, like the kernel facts
document, and its steps run here through the simulated shell: yum/dnf failure modes apply.
"""

from __future__ import annotations

from datetime import datetime

from .host import Host
from .outcome import StepResult
from .shell import run_script

#: The name template.yaml gives the document.
LIVEPATCH_DOCUMENT = "LivePatchAutopilot-ConfigureKernelLivePatching"

_ENABLE = [
    "dnf install -y kpatch-dnf",
    "dnf kernel-livepatch -y auto",
    "dnf install -y kpatch-runtime",
    "systemctl enable --now kpatch.service",
    "kpatch list",
    "echo Kernel live patching is enabled: live patches install automatically and load at every boot.",
]
_DISABLE = [
    "systemctl disable --now kpatch.service",
    "dnf kernel-livepatch -y manual",
    "dnf remove -y kpatch-dnf",
    "echo Kernel live patching is disabled: no new live patches install and none load at boot. No reboot.",
    "echo Live patches already loaded stay in effect until the next reboot"
    " (to unload them now: sudo kpatch unload --all).",
]


def configure_al2023(host: Host, action: str, now: datetime) -> StepResult:
    if not host.platform.is_al2023:
        return StepResult.failed(
            f"This document configures Amazon Linux 2023 only; this instance runs "
            f"{host.platform.name} {host.platform.version}.\n"
            "On Amazon Linux 2, use AWS-ConfigureKernelLivePatching.\n"
        )
    banner = f"Kernel live patching on {host.kernel.release}: {action}\n"
    if action == "Disable" and not host.livepatch_plugin:
        # The real script skips what is not installed.
        return StepResult.success(banner + "kpatch-dnf: not installed\n")
    result = run_script(host, now, _ENABLE if action == "Enable" else _DISABLE)
    result.stdout = banner + result.stdout
    return result
