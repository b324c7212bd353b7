"""One simulated instance: what runs on it and what its shell would print."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .catalog import Kernel, LivePatch, Package
from .patchstate import PatchState
from .platform import Platform

KPATCH_SERVICE_STATES = ("enabled", "disabled", "failed")
FAILURE_MODES = ("yum_lock", "disk_full", "kpatch_load", "timeout")
AGENT_STATES = ("Online", "ConnectionLost")
INSTANCE_STATES = ("running", "stopped")


@dataclass
class InstalledPackage:
    package: Package
    installed_at: datetime
    pending_reboot: bool = False


@dataclass
class Host:
    id: str
    name: str
    platform: Platform
    arch: str
    kernel: Kernel
    booted: datetime
    ip_address: str
    agent_version: str
    tags: dict[str, str]
    managed: bool
    state: str
    agent: str
    last_ping: datetime | None
    patch_group: str
    failure: str | None
    livepatch_plugin: bool
    kpatch_service: str
    livepatch: LivePatch | None  # installed release of the running kernel's live patch RPM
    livepatch_installed_at: datetime | None
    loaded_modules: set[str]
    missing_packages: list[Package]
    installed_packages: list[InstalledPackage]
    livepatch_load_failed: bool = False  # the last `kpatch load` of `livepatch` stalled
    pending_kernel: Kernel | None = None  # installed, not yet booted
    pending_kernel_at: datetime | None = None
    patch_state: PatchState | None = None
    compliance: tuple[str, str] | None = None  # last (status, severity) reported by an event
    registered: datetime | None = None
    iam_role: str = ""
    #: When an earlier run of the kernel facts document stored this instance's inventory, if ever.
    facts_collected: datetime | None = None

    # -- what SSM sees --------------------------------------------------------
    @property
    def is_managed_instance(self) -> bool:
        """Hybrid activations (`mi-`) rather than EC2 instances."""
        return self.id.startswith("mi-")

    @property
    def visible_to_ssm(self) -> bool:
        """DescribeInstanceInformation omits unmanaged and stopped instances."""
        return self.managed and self.state == "running"

    @property
    def reachable(self) -> bool:
        """Run Command can deliver to it right now."""
        return self.visible_to_ssm and self.agent == "Online"

    @property
    def computer_name(self) -> str:
        if self.is_managed_instance:
            return self.name
        return "ip-" + self.ip_address.replace(".", "-") + ".ec2.internal"

    def arn(self, region: str, account: str) -> str:
        if self.is_managed_instance:
            return f"arn:aws:ssm:{region}:{account}:managed-instance/{self.id}"
        return f"arn:aws:ec2:{region}:{account}:instance/{self.id}"

    # -- what its shell prints ------------------------------------------------
    @property
    def installed_modules(self) -> list[str]:
        releases = self.kernel.livepatches_up_to(self.livepatch)
        return [lp.module for lp in releases if lp.module]

    @property
    def kpatch_enabled(self) -> str:
        """`systemctl is-enabled kpatch.service`."""
        return "disabled" if self.kpatch_service == "disabled" else "enabled"

    @property
    def kpatch_active(self) -> str:
        """`systemctl is-active kpatch.service`."""
        return {"enabled": "active", "disabled": "inactive", "failed": "failed"}[self.kpatch_service]

    def kpatch_list(self) -> str:
        """`kpatch list` as kpatch prints it."""
        loaded = [m for m in self.installed_modules if m in self.loaded_modules]
        lines = ["Loaded patch modules:"]
        lines += [f"{module} [enabled]" for module in loaded]
        lines += ["", "Installed patch modules:"]
        lines += [f"{module} ({self.kernel.release})" for module in self.installed_modules]
        return "\n".join(lines) + "\n"

    def support_output(self) -> str:
        """`dnf kernel-livepatch support` on AL2023; AL2 has no such line."""
        if not self.platform.is_al2023:
            return ""
        end = self.kernel.support_end.isoformat()
        return f"kernel-{self.kernel.release} will no longer receive live patches after {end}."

    # -- transitions ----------------------------------------------------------
    def load_installed_modules(self) -> None:
        """What an enabled kpatch.service does at boot: load every installed module."""
        if self.kpatch_service == "enabled":
            self.loaded_modules = set(self.installed_modules)
        else:
            self.loaded_modules = set()

    def install_livepatch(self, release: LivePatch, now: datetime, load_stalls: bool) -> None:
        """yum/dnf installs the RPM; its scriptlet loads the modules while kpatch.service is enabled."""
        self.livepatch = release
        self.livepatch_installed_at = now
        loads = self.kpatch_service == "enabled"
        self.livepatch_load_failed = loads and load_stalls
        if loads and not load_stalls:
            self.loaded_modules |= set(self.installed_modules)

    def reboot(self, now: datetime) -> None:
        """Boot into the newest installed kernel; a new kernel has none of the old live patches."""
        if self.pending_kernel is not None:
            self.kernel = self.pending_kernel
            self.pending_kernel = None
            self.pending_kernel_at = None
            self.livepatch = None
            self.livepatch_installed_at = None
        self.livepatch_load_failed = False
        for installed in self.installed_packages:
            installed.pending_reboot = False
        self.booted = now
        self.load_installed_modules()
