"""Patch Manager's judgement of one instance (Scan) and what Install changes on it.

Rules (DOMAIN.md §1-2): live patches are offered only while the plugin is installed
and the running kernel is inside its live patch window; a newer kernel whose fixes
are all covered by installed live patches is reported Installed with no install
time; Install with NoReboot applies live patches and leaves other updates pending
reboot; Install with RebootIfNeeded skips the live patch logic entirely.

Everything is judged at the simulated clock: kernels, live patches and packages the
catalogue dates later than `now` are not offered yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .baselines import UNSPECIFIED, Baseline
from .catalog import Advisory, Catalog, Kernel, LivePatch, Package
from .host import Host, InstalledPackage
from .patchstate import PatchRecord
from .rpm import Nevra


def livepatching_active(host: Host, now: datetime) -> bool:
    """The agent skips live patch checks without the plugin or after the support end."""
    return host.livepatch_plugin and now.date() <= host.kernel.support_end


def _combined(releases: list[LivePatch]) -> Advisory:
    return Advisory.of(tuple(cve for lp in releases for cve in lp.advisory.cves))


@dataclass(frozen=True)
class Plan:
    """The approved updates Install would apply to an instance right now."""

    livepatch: LivePatch | None
    livepatch_advisory: Advisory | None
    kernel: Kernel | None  # newest approved newer kernel of the series
    kernel_uncovered: Advisory | None  # its fixes no live patch covers; None when covered
    packages: list[tuple[Package, str]]  # with the compliance level each is approved at
    livepatch_level: str
    kernel_level: str


class PatchEvaluator:
    def __init__(self, catalog: Catalog, baseline: Baseline, now: datetime):
        self._catalog = catalog
        self._baseline = baseline
        self._now = now

    # -- what is approved and missing -------------------------------------------
    def plan(self, host: Host) -> Plan:
        livepatch, lp_advisory, lp_level = self._livepatch_target(host)
        kernel, kernel_level = self._kernel_target(host)
        uncovered = self._uncovered(host, kernel) if kernel else None
        packages = []
        for package in host.missing_packages:
            if package.released is not None and package.released > self._now:
                continue  # not published yet
            level = self._baseline.approval(package.package, package.advisory, package.released, self._now)
            if level is not None:
                packages.append((package, level))
        return Plan(livepatch, lp_advisory, kernel, uncovered, packages, lp_level, kernel_level)

    def _livepatch_target(self, host: Host) -> tuple[LivePatch | None, Advisory | None, str]:
        if not livepatching_active(host, self._now):
            return None, None, ""
        newer = host.kernel.livepatches_after(host.livepatch, self._now)
        for index in range(len(newer) - 1, -1, -1):
            candidate = newer[index]
            level = self._baseline.approval(
                candidate.package, candidate.advisory, candidate.released, self._now
            )
            if level is not None:
                return candidate, _combined(newer[: index + 1]), level
        return None, None, ""

    def _kernel_target(self, host: Host) -> tuple[Kernel | None, str]:
        for kernel in reversed(self._newer_kernels(host)):
            if host.pending_kernel is not None and not kernel.release > host.pending_kernel.release:
                return None, ""
            advisory = self._fixes_up_to(host, kernel)
            level = self._baseline.approval(kernel.release.package, advisory, kernel.published, self._now)
            if level is not None:
                return kernel, level
        return None, ""

    def _newer_kernels(self, host: Host) -> list[Kernel]:
        return self._catalog.newer_kernels(host.kernel, self._now)

    def _fixes_up_to(self, host: Host, target: Kernel) -> Advisory:
        between = [k for k in self._newer_kernels(host) if not k.release > target.release]
        return Advisory.of(tuple(cve for k in between for cve in k.fixes.cves))

    def _uncovered(self, host: Host, kernel: Kernel) -> Advisory | None:
        """What the newer kernel fixes that no installed live patch does; None when all is covered."""
        needed = self._fixes_up_to(host, kernel)
        if not livepatching_active(host, self._now) or not needed.cves:
            return needed
        installed = host.kernel.livepatches_up_to(host.livepatch)
        covered = {cve.id for lp in installed for cve in lp.advisory.cves}
        missing = tuple(cve for cve in needed.cves if cve.id not in covered)
        return Advisory.of(missing) if missing else None

    # -- the report ---------------------------------------------------------------
    def records(self, host: Host) -> list[PatchRecord]:
        plan = self.plan(host)
        kernel = [self._kernel_record(host, plan)] if host.platform.is_amazon_linux else []
        return kernel + self._livepatch_records(host, plan) + self._package_records(host, plan)

    def _kernel_record(self, host: Host, plan: Plan) -> PatchRecord:
        if host.pending_kernel is not None:
            package = host.pending_kernel.release.package
            return _record(
                package, host.pending_kernel.fixes, "InstalledPendingReboot", host.pending_kernel_at
            )
        if plan.kernel is None:
            return _record(host.kernel.release.package, host.kernel.fixes, "Installed", host.booted)
        package = plan.kernel.release.package
        if plan.kernel_uncovered is None:
            # Every fix of the newer kernel is in effect through live patches.
            return _record(package, plan.kernel.fixes, "Installed", None, level=plan.kernel_level)
        return _record(package, plan.kernel_uncovered, "Missing", None, level=plan.kernel_level)

    def _livepatch_records(self, host: Host, plan: Plan) -> list[PatchRecord]:
        if plan.livepatch is not None:
            advisory = plan.livepatch_advisory or plan.livepatch.advisory
            return [_record(plan.livepatch.package, advisory, "Missing", None, level=plan.livepatch_level)]
        installed = host.livepatch
        if installed is None:
            return []
        if host.livepatch_load_failed:
            return [_record(installed.package, installed.advisory, "Failed", host.livepatch_installed_at)]
        level = self._baseline.approval(installed.package, installed.advisory, installed.released, self._now)
        state = "Installed" if level is not None else "InstalledOther"
        return [_record(installed.package, installed.advisory, state, host.livepatch_installed_at)]

    def _package_records(self, host: Host, plan: Plan) -> list[PatchRecord]:
        records = []
        for installed in host.installed_packages:
            package = installed.package
            if self._baseline.rejects(package.package):
                state = "InstalledRejected"
            elif installed.pending_reboot:
                state = "InstalledPendingReboot"
            elif (
                self._baseline.approval(package.package, package.advisory, package.released, self._now)
                is None
            ):
                state = "InstalledOther"
            else:
                state = "Installed"
            records.append(_record(package.package, package.advisory, state, installed.installed_at))
        for package, level in plan.packages:
            records.append(_record(package.package, package.advisory, "Missing", None, level=level))
        return records

    # -- Install ------------------------------------------------------------------
    def install_no_reboot(self, host: Host, load_stalls: bool) -> None:
        """Live patches first; then a still-uncovered kernel and other updates, pending reboot."""
        plan = self.plan(host)
        if plan.livepatch is not None:
            host.install_livepatch(plan.livepatch, self._now, load_stalls)
        plan = self.plan(host)
        if plan.kernel is not None and plan.kernel_uncovered is not None:
            host.pending_kernel, host.pending_kernel_at = plan.kernel, self._now
        self._install_packages_pending_reboot(host, plan)

    def install_and_reboot_if_needed(self, host: Host) -> bool:
        """Everything but live patches; True when the instance must reboot."""
        plan = self.plan(host)
        if plan.kernel is not None:
            host.pending_kernel, host.pending_kernel_at = plan.kernel, self._now
        self._install_packages_pending_reboot(host, plan)
        return host.pending_kernel is not None or any(p.pending_reboot for p in host.installed_packages)

    def _install_packages_pending_reboot(self, host: Host, plan: Plan) -> None:
        for package, _level in plan.packages:
            host.missing_packages.remove(package)
            host.installed_packages.append(InstalledPackage(package, self._now, pending_reboot=True))


def _record(
    package: Nevra, advisory: Advisory, state: str, installed: datetime | None, level: str = UNSPECIFIED
) -> PatchRecord:
    return PatchRecord(
        title=package.title,
        kb_id=package.kb_id,
        classification=advisory.classification,
        severity=advisory.severity,
        state=state,
        installed_time=installed,
        cve_ids=advisory.cve_ids,
        compliance_level=level,
    )
