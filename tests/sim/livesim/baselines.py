"""Patch baselines: which updates Patch Manager approves, and at which compliance level.

The AWS default baselines are built in (with their real IDs from moto's data); a
baseline created with CreatePatchBaseline and registered for the instance's patch
group is read from moto's store.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from moto.ssm.models import FakePatchGroup, SimpleSystemManagerBackend

from .catalog import Advisory
from .rpm import Nevra

UNSPECIFIED = "UNSPECIFIED"


@dataclass(frozen=True)
class ApprovalRule:
    classifications: frozenset[str] | None  # None: any
    severities: frozenset[str] | None
    approve_after_days: int | None
    approve_until: date | None
    compliance_level: str

    def matches(self, advisory: Advisory) -> bool:
        return _in(advisory.classification, self.classifications) and _in(advisory.severity, self.severities)

    def approved_by(self, released: datetime | None, now: datetime) -> bool:
        if released is None:
            return True
        if self.approve_until is not None:
            return released.date() <= self.approve_until
        return released + timedelta(days=self.approve_after_days or 0) <= now


@dataclass(frozen=True)
class Baseline:
    id: str
    rules: tuple[ApprovalRule, ...]
    global_classifications: frozenset[str] | None = None
    global_severities: frozenset[str] | None = None
    approved_patches: tuple[str, ...] = ()
    approved_level: str = UNSPECIFIED
    rejected_patches: tuple[str, ...] = ()

    def approval(
        self, package: Nevra, advisory: Advisory, released: datetime | None, now: datetime
    ) -> str | None:
        """The compliance level an update is approved at, or None while it is not approved."""
        if self.rejects(package):
            return None
        if _listed(package, self.approved_patches):
            return self.approved_level
        if not (
            _in(advisory.classification, self.global_classifications)
            and _in(advisory.severity, self.global_severities)
        ):
            return None
        for rule in self.rules:
            if rule.matches(advisory) and rule.approved_by(released, now):
                return rule.compliance_level
        return None

    def rejects(self, package: Nevra) -> bool:
        return _listed(package, self.rejected_patches)


def _in(value: str, allowed: frozenset[str] | None) -> bool:
    return allowed is None or value in allowed


def _listed(package: Nevra, patterns: tuple[str, ...]) -> bool:
    names = (package.name, package.kb_id, str(package), package.title)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)


def _amazon_default(baseline_id: str) -> Baseline:
    """AWS-AmazonLinux2(023)DefaultPatchBaseline: Security Critical/Important and all
    Bugfix, approved 7 days after release."""
    return Baseline(
        baseline_id,
        (
            ApprovalRule(frozenset({"Security"}), frozenset({"Critical", "Important"}), 7, None, UNSPECIFIED),
            ApprovalRule(frozenset({"Bugfix"}), None, 7, None, UNSPECIFIED),
        ),
    )


def _approve_all(baseline_id: str) -> Baseline:
    return Baseline(baseline_id, (ApprovalRule(None, None, 0, None, UNSPECIFIED),))


def baseline_for(backend: SimpleSystemManagerBackend, patch_group: str, baseline_os: str) -> Baseline:
    """The baseline registered for the patch group and OS, else the AWS default one."""
    group = backend.patch_groups.get(patch_group) if patch_group else None
    if group is not None and baseline_os in group.associations:
        registered = group.associations[baseline_os]
        if registered in backend.baselines:
            return from_moto(backend.baselines[registered])
    default_arn = FakePatchGroup("default", backend.region_name).default_associations[baseline_os]
    default_id = default_arn.rsplit("/", 1)[-1]
    if baseline_os.startswith("AMAZON_LINUX"):
        return _amazon_default(default_id)
    return _approve_all(default_id)


def from_moto(baseline: Any) -> Baseline:
    global_filters = _filters((baseline.global_filters or {}).get("PatchFilters", []))
    rules = []
    for rule in (baseline.approval_rules or {}).get("PatchRules", []):
        filters = _filters(rule.get("PatchFilterGroup", {}).get("PatchFilters", []))
        until = rule.get("ApproveUntilDate")
        rules.append(
            ApprovalRule(
                filters.get("CLASSIFICATION"),
                filters.get("SEVERITY"),
                rule.get("ApproveAfterDays"),
                date.fromisoformat(until) if until else None,
                rule.get("ComplianceLevel", UNSPECIFIED),
            )
        )
    return Baseline(
        baseline.id,
        tuple(rules),
        global_filters.get("CLASSIFICATION"),
        global_filters.get("SEVERITY"),
        tuple(baseline.approved_patches or ()),
        baseline.approved_patches_compliance_level or UNSPECIFIED,
        tuple(baseline.rejected_patches or ()),
    )


def _filters(filters: list[dict[str, Any]]) -> dict[str, frozenset[str] | None]:
    result: dict[str, frozenset[str] | None] = {}
    for patch_filter in filters:
        values = frozenset(patch_filter.get("Values", []))
        result[patch_filter["Key"]] = None if "*" in values else values
    return result


def register_for_patch_group(
    backend: SimpleSystemManagerBackend, baseline_id: str, patch_group: str
) -> tuple[str, str]:
    """RegisterPatchBaselineForPatchGroup as AWS does it: one baseline per OS and group.

    moto 5.2.5 refuses a second OS in the same group, because every group starts out holding the
    default baselines of every OS and any difference counts as a conflict; it also mutates a dict it
    shares. Here a group holds only what was registered, and a conflict is a different baseline
    registered for the same OS.
    """
    from moto.ssm.exceptions import AlreadyExistsException, DoesNotExistException

    if baseline_id not in backend.baselines:
        raise DoesNotExistException(baseline_id)
    baseline_os = backend.baselines[baseline_id].operating_system
    group = backend.patch_groups.get(patch_group)
    if group is None:
        group = FakePatchGroup(patch_group, backend.region_name)
        group.associations = {}
        backend.patch_groups[patch_group] = group
    registered = group.associations.get(baseline_os)
    if registered is not None and registered != baseline_id:
        raise AlreadyExistsException(baseline_os)
    group.associations[baseline_os] = baseline_id
    return baseline_id, patch_group
