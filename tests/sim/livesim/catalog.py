"""What the package repositories offer: kernels, their live patches, other packages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from .rpm import KernelRelease, Nevra

CLASSIFICATIONS = ("Security", "Bugfix", "Enhancement", "Recommended", "Newpackage")
SEVERITIES = ("Critical", "Important", "Medium", "Low", "None")


def _rank(value: str, order: tuple[str, ...]) -> int:
    return order.index(value) if value in order else len(order)


def highest_classification(values: list[str]) -> str:
    return min(values, key=lambda v: _rank(v, CLASSIFICATIONS))


def highest_severity(values: list[str]) -> str:
    return min(values, key=lambda v: _rank(v, SEVERITIES))


@dataclass(frozen=True)
class Cve:
    id: str
    classification: str
    severity: str


@dataclass(frozen=True)
class Advisory:
    """What an update fixes: classification and severity are the highest among its CVEs."""

    cves: tuple[Cve, ...]
    classification: str
    severity: str

    @classmethod
    def of(cls, cves: tuple[Cve, ...], classification: str = "Bugfix", severity: str = "Medium") -> Advisory:
        if not cves:
            return cls(cves, classification, severity)
        return cls(
            cves,
            highest_classification([c.classification for c in cves]),
            highest_severity([c.severity for c in cves]),
        )

    @property
    def cve_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.cves)


@dataclass(frozen=True)
class LivePatch:
    """One release of a kernel's live patch RPM. Releases are cumulative: installing
    `...-1.0-2` brings the modules of `...-1.0-1` too."""

    package: Nevra
    advisory_id: str
    released: datetime  # the repositories offer it from then on
    advisory: Advisory
    module: str  # "" for the empty first release that enabling installs

    def available(self, now: datetime) -> bool:
        return self.released <= now


@dataclass(frozen=True)
class Kernel:
    release: KernelRelease
    built: datetime  # `uname -v`; the live patch window counts from it
    uname_v: str
    support_end: date  # last day live patches are offered for this kernel
    fixes: Advisory  # what this kernel fixes over the previous one of its series
    livepatches: tuple[LivePatch, ...] = field(default=())
    released: datetime | None = None  # the repositories offer it from then on; None: from `built`

    @property
    def published(self) -> datetime:
        return self.released or self.built

    def available(self, now: datetime) -> bool:
        """A kernel built (or released) later than the clock does not exist yet for the instances."""
        return self.published <= now

    def livepatches_after(self, installed: LivePatch | None, now: datetime) -> list[LivePatch]:
        """Releases newer than the installed one that the repositories offer at `now`."""
        offered = [lp for lp in self.livepatches if lp.available(now)]
        if installed is None:
            return offered
        return [lp for lp in offered if lp.package.is_newer_than(installed.package)]

    def livepatches_up_to(self, installed: LivePatch | None) -> list[LivePatch]:
        if installed is None:
            return []
        return [lp for lp in self.livepatches if not lp.package.is_newer_than(installed.package)]

    def find_livepatch(self, package: str) -> LivePatch | None:
        return next((lp for lp in self.livepatches if str(lp.package) == package), None)


@dataclass(frozen=True)
class Package:
    """A non-kernel package update (or an installed package) an instance reports."""

    package: Nevra
    advisory: Advisory
    released: datetime | None


class Catalog:
    """Kernels by `uname -r`; newer kernels are looked up within a series."""

    def __init__(self, kernels: list[Kernel]):
        self._kernels = {k.release.text: k for k in kernels}

    def __contains__(self, release: str) -> bool:
        return release in self._kernels

    def kernel(self, release: str) -> Kernel:
        return self._kernels[release]

    def newer_kernels(self, running: Kernel, now: datetime) -> list[Kernel]:
        """Kernels of the same series, dist and arch newer than `running` that the repositories
        offer at `now`, oldest first. The catalogue spans the simulated future too: a kernel
        appears once the clock reaches its release."""
        current = running.release
        same_line = [
            k
            for k in self._kernels.values()
            if (k.release.series, k.release.dist, k.release.arch)
            == (current.series, current.dist, current.arch)
            and k.release > current
            and k.available(now)
        ]
        return sorted(same_line, key=lambda k: k.release)
