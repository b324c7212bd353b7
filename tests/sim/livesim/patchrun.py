"""AWS-RunPatchBaseline's PatchLinux step on one instance."""

from __future__ import annotations

from datetime import datetime

from .failures import kpatch_stalled, package_manager_failure
from .host import Host
from .outcome import StepResult
from .patching import PatchEvaluator, livepatching_active
from .patchstate import PatchRecord, PatchState

REBOOT_EXIT_CODE = 194  # the agent's "reboot and resume" code


class PatchRun:
    def __init__(
        self, host: Host, evaluator: PatchEvaluator, baseline_id: str, parameters: dict[str, list[str]]
    ):
        self.host = host
        self.evaluator = evaluator
        self.baseline_id = baseline_id
        self.operation = parameters["Operation"][0]
        self.reboot_option = parameters["RebootOption"][0]
        self.snapshot_id = parameters["SnapshotId"][0]
        self.install_override_list = parameters["InstallOverrideList"][0]

    def run(self, now: datetime) -> StepResult:
        log = self._preamble(now)
        installing = self.operation == "Install"
        failure = package_manager_failure(self.host, now, downloading=installing)
        if failure:
            return StepResult.failed(
                failure, stdout=log + _line(now, "ERROR", "Package manager failed; no patch data reported.")
            )
        if self.host.failure == "timeout":
            return StepResult.execution_timed_out(log)
        log += self._livepatch_notes(now)
        if not installing:
            return self._report(log, now, last_no_reboot=None)
        if self.reboot_option == "NoReboot":
            return self._install_no_reboot(log, now)
        return self._install_reboot_if_needed(log, now)

    def _install_no_reboot(self, log: str, now: datetime) -> StepResult:
        before = set(self.host.installed_modules)
        stalls = self.host.failure == "kpatch_load"
        self.evaluator.install_no_reboot(self.host, load_stalls=stalls)
        new_modules = [m for m in self.host.installed_modules if m not in before]
        log += "".join(_line(now, "INFO", f"Installed live patch module {m}") for m in new_modules)
        result = self._report(log, now, last_no_reboot=now)
        if self.host.livepatch_load_failed and new_modules:
            result.status, result.response_code = "Failed", 1
            result.stderr = kpatch_stalled(self.host, new_modules)
        return result

    def _install_reboot_if_needed(self, log: str, now: datetime) -> StepResult:
        if not self.evaluator.install_and_reboot_if_needed(self.host):
            return self._report(log, now, last_no_reboot=None)
        log += _line(now, "INFO", f"Reboot requested; exit code {REBOOT_EXIT_CODE}.")
        self.host.reboot(now)

        def after_reboot(resumed: datetime) -> StepResult:
            resumed_log = log + _line(
                resumed, "INFO", f"Resumed after reboot into {self.host.kernel.release}."
            )
            return self._report(resumed_log, resumed, last_no_reboot=None)

        return StepResult("InProgress", -1, log, after_reboot=after_reboot)

    def _report(self, log: str, now: datetime, last_no_reboot: datetime | None) -> StepResult:
        previous = self.host.patch_state
        records = self.evaluator.records(self.host)
        state = PatchState(
            operation=self.operation,
            started=now,
            ended=now,
            baseline_id=self.baseline_id,
            patch_group=self.host.patch_group,
            reboot_option=self.reboot_option,
            last_no_reboot_install=last_no_reboot or (previous.last_no_reboot_install if previous else None),
            snapshot_id=self.snapshot_id,
            install_override_list=self.install_override_list if self.operation == "Install" else "",
            patches=records,
        )
        log += _summary(now, records)
        return StepResult.success(log, patch_state=state)

    def _preamble(self, now: datetime) -> str:
        host = self.host
        return "".join(
            _line(now, "INFO", text)
            for text in (
                f"Running with snapshot id = {self.snapshot_id or '(none)'} and operation = {self.operation}",
                f"Instance Id: {host.id}",
                f"Operating system: {host.platform.name} {host.platform.version} ({host.arch})",
                f"Patch Group: {host.patch_group}",
                f"Baseline: {self.baseline_id}",
                f"Reboot option: {self.reboot_option}",
                f"Running kernel: {host.kernel.release}",
            )
        )

    def _livepatch_notes(self, now: datetime) -> str:
        host = self.host
        if not host.livepatch_plugin or not host.platform.is_amazon_linux:
            return ""
        if not livepatching_active(host, now):
            end = host.kernel.support_end.isoformat()
            return _line(
                now,
                "WARNING",
                f"Kernel {host.kernel.release} is past its live patch support window (ended {end}); "
                "skipping live patch checks. Reboot into the latest kernel.",
            )
        if self.operation == "Install" and self.reboot_option == "RebootIfNeeded":
            return _line(now, "INFO", "RebootOption is RebootIfNeeded: kernel live patching is not used.")
        return _line(now, "INFO", "Kernel live patching is enabled; evaluating live patches.")


def _line(now: datetime, level: str, text: str) -> str:
    return f"{now.strftime('%m/%d/%Y %H:%M:%S')} root [{level}]: {text}\n"


def _summary(now: datetime, records: list[PatchRecord]) -> str:
    lines = [
        f"{r.state}: {r.title}" + (f" ({','.join(r.cve_ids)})" if r.state == "Missing" and r.cve_ids else "")
        for r in records
    ]
    counts = {}
    for record in records:
        counts[record.state] = counts.get(record.state, 0) + 1
    summary = ", ".join(f"{state}={count}" for state, count in sorted(counts.items()))
    return "".join(_line(now, "INFO", text) for text in lines) + _line(
        now, "INFO", f"Report summary: {summary}"
    )
