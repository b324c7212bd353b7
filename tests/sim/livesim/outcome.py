"""What one document step did on one instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .patchstate import PatchState


@dataclass
class StepResult:
    status: str  # Success | Failed | TimedOut
    response_code: int
    stdout: str
    stderr: str = ""
    details: str | None = None  # StatusDetails when it differs from status
    patch_state: PatchState | None = None  # reported to Patch Manager by this step
    # The step rebooted the instance; this finishes it once the agent is back.
    after_reboot: Callable[[datetime], StepResult] | None = None

    @classmethod
    def success(cls, stdout: str = "", stderr: str = "", patch_state: PatchState | None = None) -> StepResult:
        return cls("Success", 0, stdout, stderr, patch_state=patch_state)

    @classmethod
    def failed(cls, stderr: str, stdout: str = "", code: int = 1) -> StepResult:
        return cls("Failed", code, stdout, stderr)

    @classmethod
    def execution_timed_out(cls, stdout: str = "") -> StepResult:
        return cls("TimedOut", -1, stdout, "", details="ExecutionTimedOut")
