"""AWS-ConfigureKernelLivePatching on one instance (AL2 only; DOMAIN.md §1)."""

from __future__ import annotations

from datetime import datetime

from .catalog import Catalog
from .failures import package_manager_failure
from .host import Host
from .outcome import StepResult
from .rpm import KernelRelease

MINIMUM_KERNEL = KernelRelease.parse("4.14.165-131.185.amzn2.x86_64")


def configure_kernel_live_patching(host: Host, catalog: Catalog, enable: bool, now: datetime) -> StepResult:
    if not host.platform.is_al2:
        return StepResult.failed(
            f"Kernel Live Patching via this document is supported on Amazon Linux 2 only; "
            f"this instance runs {host.platform.name} {host.platform.version}.\n"
        )
    failure = package_manager_failure(host, now, downloading=enable)
    if failure:
        return StepResult.failed(failure)
    if host.failure == "timeout":
        return StepResult.execution_timed_out()
    return _enable(host, catalog, now) if enable else _disable(host, now)


def _below_minimum(host: Host) -> bool:
    release = host.kernel.release
    return release.series == MINIMUM_KERNEL.series and release < MINIMUM_KERNEL


def _enable(host: Host, catalog: Catalog, now: datetime) -> StepResult:
    log = (
        "Installing yum-plugin-kernel-livepatch\n"
        "Enabling kernel live patching\n"
        "Installing kpatch-runtime\n"
        "Enabling kpatch.service\n"
    )
    host.livepatch_plugin = True
    host.kpatch_service = "enabled"
    if not _below_minimum(host):
        host.load_installed_modules()
        return StepResult.success(log + "Kernel Live Patching is enabled.\n")
    newer = [k for k in catalog.newer_kernels(host.kernel, now) if not k.release < MINIMUM_KERNEL]
    if not newer:
        return StepResult.failed(
            f"Kernel {host.kernel.release} is older than {MINIMUM_KERNEL.version}-{MINIMUM_KERNEL.release} "
            "and no newer kernel is available.\n",
            stdout=log,
        )
    host.pending_kernel, host.pending_kernel_at = newer[-1], now
    log += f"Installing kernel {newer[-1].release}; rebooting to apply it.\n"
    host.reboot(now)

    def after_reboot(resumed: datetime) -> StepResult:
        return StepResult.success(
            log + f"Running kernel {host.kernel.release}. Kernel Live Patching is enabled.\n"
        )

    return StepResult("InProgress", -1, log, after_reboot=after_reboot)


def _disable(host: Host, now: datetime) -> StepResult:
    log = (
        "Removing kernel live patches\n"
        "Disabling kpatch.service\n"
        "Removing yum-plugin-kernel-livepatch\n"
        "Rebooting.\n"
    )
    host.livepatch_plugin = False
    host.kpatch_service = "disabled"
    host.livepatch = None
    host.livepatch_installed_at = None
    host.loaded_modules = set()
    host.reboot(now)

    def after_reboot(resumed: datetime) -> StepResult:
        return StepResult.success(log + "Kernel Live Patching is disabled.\n")

    return StepResult("InProgress", -1, log, after_reboot=after_reboot)
