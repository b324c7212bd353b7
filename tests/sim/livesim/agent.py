"""The SSM Agent on a simulated instance: runs an invocation's steps and reports results."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from moto.ssm.models import ssm_backends

from . import facts
from .baselines import baseline_for
from .commands import Command, Invocation, PluginRun
from .documents import CONFIGURE_KLP, RUN_PATCH_BASELINE, CommandDocument, Step
from .host import Host
from .klp import configure_kernel_live_patching
from .klp_al2023 import LIVEPATCH_DOCUMENT, configure_al2023
from .outcome import StepResult
from .patching import PatchEvaluator
from .patchrun import PatchRun
from .shell import run_script

if TYPE_CHECKING:
    from .simulation import Simulation


class Agent:
    def __init__(self, simulation: Simulation):
        self.sim = simulation

    def deliver(self, command: Command, invocation: Invocation, host: Host, now: datetime) -> None:
        invocation.set_status("InProgress")
        self._run_steps(command, invocation, host, now, first=0)

    def resume(self, command: Command, invocation: Invocation, host: Host, now: datetime) -> None:
        """Finish the step that rebooted the instance, then the rest."""
        index, finish = invocation.resume_after_reboot
        invocation.resume_after_reboot = None
        self._record(invocation, host, invocation.plugins[index], finish(now), now)
        self._run_steps(command, invocation, host, now, first=index + 1)

    def _run_steps(
        self, command: Command, invocation: Invocation, host: Host, now: datetime, first: int
    ) -> None:
        document = command.document
        for index in range(first, len(document.steps)):
            step, plugin = document.steps[index], invocation.plugins[index]
            plugin.started = now
            kernel_before = str(host.kernel.release)
            result = self._run_step(command, step, host, now)
            if result.after_reboot is not None:
                # Only a rebooting step hands back `after_reboot`: the host has just rebooted.
                self.sim.record_reboot(host, command, kernel_before)
                plugin.stdout = result.stdout
                invocation.resume_after_reboot = (index, result.after_reboot)
                plugin.status = plugin.status_details = "InProgress"
                return
            self._record(invocation, host, plugin, result, now)
        self._finish(invocation)

    def _record(
        self, invocation: Invocation, host: Host, plugin: PluginRun, result: StepResult, now: datetime
    ) -> None:
        plugin.status = result.status
        plugin.status_details = result.details or result.status
        plugin.response_code = result.response_code
        plugin.stdout, plugin.stderr = result.stdout, result.stderr
        plugin.finished = now
        if result.patch_state is not None:
            self.sim.report_patch_state(host, result.patch_state)

    def _finish(self, invocation: Invocation) -> None:
        statuses = [p.status for p in invocation.plugins]
        for status in ("TimedOut", "Failed"):
            if status in statuses:
                plugin = invocation.plugins[statuses.index(status)]
                invocation.set_status(status, plugin.status_details)
                return
        invocation.set_status("Success")

    def _run_step(self, command: Command, step: Step, host: Host, now: datetime) -> StepResult:
        if step.platform not in (None, "Linux"):
            return StepResult.success(
                f"Step execution skipped due to unsatisfied preconditions: "
                f"'\"StringEquals\": [platformType, {step.platform}]'. Step name: {step.name}\n"
            )
        document, parameters = command.document, command.resolved_parameters
        if document.name == RUN_PATCH_BASELINE:
            return self._patch_baseline(command, host, now)
        if document.name == CONFIGURE_KLP:
            enable = parameters["EnableOrDisable"][0] == "Enable"
            return configure_kernel_live_patching(host, self.sim.fleet.catalog, enable, now)
        if host.failure == "timeout":
            return StepResult.execution_timed_out()
        if document.name == self.sim.fleet.facts_document:
            return (
                self._kernel_facts(host, now) if step is _first_linux_step(document) else StepResult.success()
            )
        if document.name == LIVEPATCH_DOCUMENT:
            return configure_al2023(host, parameters["Action"][0], now)
        if step.action != "aws:runShellScript":
            return StepResult.failed(f"livesim: action {step.action} is not simulated\n")
        return run_script(host, now, document.shell_lines(step, parameters))

    def _patch_baseline(self, command: Command, host: Host, now: datetime) -> StepResult:
        backend = ssm_backends[command.account][command.region]
        baseline = baseline_for(backend, host.patch_group, host.platform.baseline_os)
        evaluator = PatchEvaluator(self.sim.fleet.catalog, baseline, now)
        return PatchRun(host, evaluator, baseline.id, command.resolved_parameters).run(now)

    def _kernel_facts(self, host: Host, now: datetime) -> StepResult:
        item = facts.inventory_item(host, now)
        self.sim.put_inventory(host.id, [item])
        return StepResult.success(facts.stdout(item))


def _first_linux_step(document: CommandDocument) -> Step | None:
    return next((s for s in document.steps if s.platform in (None, "Linux")), None)
