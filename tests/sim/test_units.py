"""The pure rules livesim relies on: RPM versions, names, dates, state spellings, schedules."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from conftest import FLEETS
from livesim.fleet import FleetError, load_fleet
from livesim.patchstate import canonical_state, spell_state
from livesim.rpm import KernelRelease, Nevra, rpmvercmp
from livesim.schedule import ScheduleError, parse_schedule, time_zone
from livesim.timeutil import add_months_clamped, uname_v

CREATED = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


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


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def runs(expression: str, zone: str | None, after: str, count: int, offset: int | None = None) -> list[str]:
    schedule = parse_schedule(expression, time_zone(zone), offset, CREATED)
    found, moment = [], utc(after)
    for _ in range(count):
        moment = schedule.next_after(moment)
        found.append(moment.strftime("%Y-%m-%dT%H:%M"))
    return found


def test_weekly_cron_keeps_local_time_across_daylight_saving_changes() -> None:
    assert runs("cron(0 3 ? * SUN *)", "Europe/Berlin", "2027-03-20T00:00", 2) == [
        "2027-03-21T02:00",
        "2027-03-28T01:00",
    ]
    assert runs("cron(0 2 ? * WED *)", "America/New_York", "2026-10-27T00:00", 2) == [
        "2026-10-28T06:00",  # EDT
        "2026-11-04T07:00",  # EST
    ]


def test_cron_forms() -> None:
    # Patch Tuesday (second Tuesday) plus a two-day offset, at 02:00 New York time.
    assert runs("cron(0 2 ? * TUE#2 *)", "America/New_York", "2026-12-03T00:00", 1, offset=2) == [
        "2026-12-10T07:00"
    ]
    assert runs("cron(30 1 ? * 5L *)", None, "2027-01-01T00:00", 1) == ["2027-01-28T01:30"]  # last Thursday
    assert runs("cron(0 0/12 L * ? *)", None, "2027-02-01T00:00", 2) == [
        "2027-02-28T00:00",
        "2027-02-28T12:00",
    ]
    assert runs("cron(15 4 1,15 JAN-MAR ? 2027)", None, "2026-12-03T00:00", 3) == [
        "2027-01-01T04:15",
        "2027-01-15T04:15",
        "2027-02-01T04:15",
    ]
    # 02:30 does not exist in Berlin on 2027-03-28: it runs as if the clock had not jumped (03:30 CEST).
    assert runs("cron(30 2 ? * SUN *)", "Europe/Berlin", "2027-03-27T00:00", 1) == ["2027-03-28T01:30"]


def test_at_and_rate_schedules() -> None:
    assert runs("at(2027-01-10T03:00:00)", "Europe/Berlin", "2026-12-03T00:00", 1) == ["2027-01-10T02:00"]
    assert (
        parse_schedule("at(2027-01-10T03:00:00)", UTC, None, CREATED).next_after(utc("2027-01-10T03:00"))
        is None
    )
    assert runs("rate(12 hours)", None, "2026-12-03T00:00", 2) == ["2026-12-03T13:00", "2026-12-04T01:00"]


@pytest.mark.parametrize(
    ("expression", "offset"),
    [
        ("cron(0 3 * * SUN *)", None),  # day-of-month and day-of-week both given
        ("cron(0 3 ? * SUN)", None),  # five fields
        ("cron(0 24 ? * SUN *)", None),
        ("cron(0 3 ? * SUN#6 *)", None),
        ("cron(0 3 LW * ? *)", None),
        ("at(2027-02-30T03:00:00)", None),
        ("rate(30 minutes)", None),
        ("at(2027-01-10T03:00:00)", 2),  # ScheduleOffset is for cron only
    ],
)
def test_invalid_schedules(expression: str, offset: int | None) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(expression, UTC, offset, CREATED)


def test_kernels_appear_once_released() -> None:
    fleet = json.loads((FLEETS / "small.json").read_text())
    fleet["kernels"].append(
        {
            "release": "5.10.233-224.900.amzn2.x86_64",
            "built": "2026-12-20T10:00:00Z",
            "released": "2026-12-22T10:00:00Z",
        }
    )
    loaded = load_fleet(fleet)
    running = loaded.hosts["i-0a1b2c3d4e5f60001"].kernel

    def newer(now: str) -> list[str]:
        return [str(k.release) for k in loaded.catalog.newer_kernels(running, utc(now))]

    assert newer("2026-11-17T19:00") == []  # 5.10.230 is built at 19:02:11
    assert newer("2026-12-21T00:00") == ["5.10.230-223.885.amzn2.x86_64"]  # built, not released yet
    assert newer("2026-12-22T10:00") == ["5.10.230-223.885.amzn2.x86_64", "5.10.233-224.900.amzn2.x86_64"]
    livepatches = [str(lp.package) for lp in running.livepatches_after(None, utc("2026-11-10T00:00"))]
    assert livepatches == ["kernel-livepatch-5.10.227-219.884-1.0-1.amzn2.x86_64"]
    fleet["kernels"][-1]["released"] = "2026-12-19T00:00:00Z"
    with pytest.raises(FleetError, match=r"fleet.kernels\[3\].released: a kernel cannot be released before"):
        load_fleet(fleet)
