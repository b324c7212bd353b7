"""The pure rules livesim relies on: RPM versions, names, dates, state spellings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from livesim.patchstate import canonical_state, spell_state
from livesim.rpm import KernelRelease, Nevra, rpmvercmp
from livesim.timeutil import add_months_clamped, uname_v


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("4.14.9", "4.14.165", -1),
        ("131.185.amzn2", "133.209.amzn2", -1),
        ("1.0a", "1.0", 1),
        ("1.0~rc1", "1.0", -1),
        ("2.amzn2", "10.amzn2", -1),
        ("5.10.230", "5.10.230", 0),
    ],
)
def test_rpmvercmp(left: str, right: str, expected: int) -> None:
    assert rpmvercmp(left, right) == expected


def test_live_patch_package_names_and_patch_titles() -> None:
    package = Nevra.parse("kernel-livepatch-5.10.102-99.473-1.0-2.amzn2.x86_64")
    assert (package.name, package.version, package.release) == (
        "kernel-livepatch-5.10.102-99.473",
        "1.0",
        "2.amzn2",
    )
    assert package.title == "kernel-livepatch-5.10.102-99.473.x86_64:0:1.0-2.amzn2"
    assert (
        Nevra.parse("openssl-libs-1:1.0.2k-24.amzn2.0.14.x86_64").title
        == "openssl-libs.x86_64:1:1.0.2k-24.amzn2.0.14"
    )
    kernel = KernelRelease.parse("6.1.12-17.42.amzn2023.aarch64")
    assert (kernel.series, kernel.dist, kernel.arch) == ("6.1", "amzn2023", "aarch64")
    assert kernel.livepatch_package_name == "kernel-livepatch-6.1.12-17.42"
    assert KernelRelease.parse("4.14.165-131.185.amzn2.x86_64") > KernelRelease.parse(
        "4.14.9-1.1.amzn2.x86_64"
    )


@pytest.mark.parametrize(
    ("built", "end"),
    [("2026-08-01", "2026-11-01"), ("2026-08-31", "2026-11-30"), ("2026-11-30", "2027-02-28")],
)
def test_al2_support_window_is_three_calendar_months_clamped(built: str, end: str) -> None:
    assert add_months_clamped(date.fromisoformat(built), 3) == date.fromisoformat(end)


def test_uname_v() -> None:
    built = datetime(2026, 10, 13, 18, 21, 30, tzinfo=UTC)
    assert uname_v(built, "SMP") == "#1 SMP Tue Oct 13 18:21:30 UTC 2026"


def test_both_state_spellings_map_to_one_state() -> None:
    assert canonical_state("INSTALLED_PENDING_REBOOT") == canonical_state("InstalledPendingReboot")
    assert spell_state("NotApplicable", "api") == "NOT_APPLICABLE"
