"""Patch compliance as Patch Manager reports it (DescribeInstancePatchStates / DescribeInstancePatches)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .baselines import UNSPECIFIED
from .catalog import SEVERITIES
from .timeutil import EPOCH

# Documentation spelling first; the API model's enum spelling second.
STATE_SPELLINGS = {
    "Installed": "INSTALLED",
    "InstalledOther": "INSTALLED_OTHER",
    "InstalledPendingReboot": "INSTALLED_PENDING_REBOOT",
    "InstalledRejected": "INSTALLED_REJECTED",
    "Missing": "MISSING",
    "NotApplicable": "NOT_APPLICABLE",
    "Failed": "FAILED",
    "AvailableSecurityUpdate": "AVAILABLE_SECURITY_UPDATE",
}
NON_COMPLIANT = frozenset({"Missing", "Failed", "InstalledPendingReboot", "InstalledRejected"})
COMPLIANCE_LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", UNSPECIFIED)


def canonical_state(text: str) -> str:
    """Either spelling (any case, with or without underscores) to the documentation one."""
    folded = text.replace("_", "").lower()
    for state in STATE_SPELLINGS:
        if state.lower() == folded:
            return state
    raise ValueError(text)


def spell_state(state: str, spelling: str) -> str:
    return STATE_SPELLINGS[state] if spelling == "api" else state


@dataclass(frozen=True)
class PatchRecord:
    title: str
    kb_id: str
    classification: str
    severity: str
    state: str  # documentation spelling
    installed_time: datetime | None
    cve_ids: tuple[str, ...] = ()
    compliance_level: str = UNSPECIFIED

    @property
    def non_compliant(self) -> bool:
        return self.state in NON_COMPLIANT

    def to_api(self, spelling: str) -> dict[str, object]:
        item: dict[str, object] = {
            "Title": self.title,
            "KBId": self.kb_id,
            "Classification": self.classification,
            "Severity": self.severity,
            "State": spell_state(self.state, spelling),
            "InstalledTime": self.installed_time or EPOCH,
        }
        if self.state in ("Missing", "Failed") and self.cve_ids:
            item["CVEIds"] = ",".join(self.cve_ids)
        return item


@dataclass
class PatchState:
    operation: str
    started: datetime
    ended: datetime
    baseline_id: str
    patch_group: str
    reboot_option: str
    last_no_reboot_install: datetime | None
    snapshot_id: str
    install_override_list: str
    patches: list[PatchRecord] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for p in self.patches if p.state == state)

    @property
    def non_compliant(self) -> list[PatchRecord]:
        return [p for p in self.patches if p.non_compliant]

    @property
    def compliance_status(self) -> str:
        """Lower case, as the compliance event spells it."""
        return "non_compliant" if self.non_compliant else "compliant"

    def compliance_severity(self, source: str) -> str:
        """The event's `severity`: the highest compliance level (default) or patch severity
        among non-compliant patches, lower case; `unspecified` when there is none."""
        if source == "patch":
            severities = [p.severity for p in self.non_compliant]
            return min(severities, key=SEVERITIES.index).lower() if severities else "unspecified"
        levels = [p.compliance_level for p in self.non_compliant] or [UNSPECIFIED]
        return min(levels, key=COMPLIANCE_LEVELS.index).lower()

    def summary(self, instance_id: str) -> dict[str, object]:
        non_compliant = self.non_compliant
        critical = [p for p in non_compliant if p.compliance_level == "CRITICAL"]
        security = [p for p in non_compliant if p.classification == "Security"]
        other = [p for p in non_compliant if p not in critical and p not in security]
        result: dict[str, object] = {
            "InstanceId": instance_id,
            "PatchGroup": self.patch_group,
            "BaselineId": self.baseline_id,
            "InstalledCount": self.count("Installed"),
            "InstalledOtherCount": self.count("InstalledOther"),
            "InstalledPendingRebootCount": self.count("InstalledPendingReboot"),
            "InstalledRejectedCount": self.count("InstalledRejected"),
            "MissingCount": self.count("Missing"),
            "FailedCount": self.count("Failed"),
            "UnreportedNotApplicableCount": 0,
            "NotApplicableCount": self.count("NotApplicable"),
            "AvailableSecurityUpdateCount": self.count("AvailableSecurityUpdate"),
            "OperationStartTime": self.started,
            "OperationEndTime": self.ended,
            "Operation": self.operation,
            "RebootOption": self.reboot_option,
            "CriticalNonCompliantCount": len(critical),
            "SecurityNonCompliantCount": len(security),
            "OtherNonCompliantCount": len(other),
        }
        if self.last_no_reboot_install is not None:
            result["LastNoRebootInstallOperationTime"] = self.last_no_reboot_install
        if self.snapshot_id:
            result["SnapshotId"] = self.snapshot_id
        if self.install_override_list:
            result["InstallOverrideList"] = self.install_override_list
        return result
