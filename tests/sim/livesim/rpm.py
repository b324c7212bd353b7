"""RPM version comparison and the package and kernel names the fleet uses."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_SEGMENT = re.compile(r"(\d+|[a-zA-Z]+|~|\^)")
ARCHES = ("x86_64", "aarch64", "noarch")


def rpmvercmp(left: str, right: str) -> int:
    """rpm's segment-wise comparison: numbers numerically, `~` sorts before anything, `^` after."""
    if left == right:
        return 0
    a_parts = _SEGMENT.findall(left)
    b_parts = _SEGMENT.findall(right)
    while a_parts or b_parts:
        a = a_parts.pop(0) if a_parts else None
        b = b_parts.pop(0) if b_parts else None
        if a == "~" or b == "~":
            if a != b:
                return -1 if a == "~" else 1
            continue
        if a == "^" or b == "^":
            if a is None:
                return -1
            if b is None:
                return 1
            if a != b:
                return 1 if a == "^" else -1
            continue
        if a is None:
            return -1
        if b is None:
            return 1
        if a.isdigit() and b.isdigit():
            diff = int(a) - int(b)
        elif a.isdigit() != b.isdigit():
            diff = 1 if a.isdigit() else -1
        else:
            diff = (a > b) - (a < b)
        if diff:
            return 1 if diff > 0 else -1
    return 0


def compare_evr(left: tuple[str, str, str], right: tuple[str, str, str]) -> int:
    """Compare (epoch, version, release) tuples."""
    for a, b in zip(left, right, strict=True):
        result = rpmvercmp(a or "0", b or "0")
        if result:
            return result
    return 0


@dataclass(frozen=True)
class Nevra:
    """A package as `name-[epoch:]version-release.arch`."""

    name: str
    epoch: str
    version: str
    release: str
    arch: str

    @classmethod
    def parse(cls, text: str) -> Nevra:
        base, _, arch = text.rpartition(".")
        if arch not in ARCHES:
            raise ValueError(f"package {text!r} must end in .x86_64, .aarch64 or .noarch")
        rest, _, release = base.rpartition("-")
        name, _, version = rest.rpartition("-")
        if not (name and version and release):
            raise ValueError(f"package {text!r} is not name-version-release.arch")
        epoch = "0"
        if ":" in version:
            epoch, version = version.split(":", 1)
        return cls(name, epoch, version, release, arch)

    @property
    def evr(self) -> tuple[str, str, str]:
        return (self.epoch, self.version, self.release)

    @property
    def title(self) -> str:
        """Patch Manager's Title: `name.arch:epoch:version-release`."""
        return f"{self.name}.{self.arch}:{self.epoch}:{self.version}-{self.release}"

    @property
    def kb_id(self) -> str:
        """Patch Manager's KBId: `name.arch`."""
        return f"{self.name}.{self.arch}"

    def __str__(self) -> str:
        epoch = "" if self.epoch == "0" else f"{self.epoch}:"
        return f"{self.name}-{epoch}{self.version}-{self.release}.{self.arch}"

    def is_newer_than(self, other: Nevra) -> bool:
        return compare_evr(self.evr, other.evr) > 0


@functools.total_ordering
@dataclass(frozen=True)
class KernelRelease:
    """`uname -r`, e.g. `5.10.102-99.473.amzn2.x86_64` or `5.15.0-1051-aws`."""

    text: str
    version: str
    release: str
    dist: str
    arch: str

    @classmethod
    def parse(cls, text: str) -> KernelRelease:
        version, sep, rest = text.partition("-")
        if not sep or not re.fullmatch(r"\d+\.\d+(\.\d+)*", version):
            raise ValueError(f"kernel release {text!r} is not version-release")
        arch = ""
        for candidate in ARCHES:
            if rest.endswith("." + candidate):
                arch, rest = candidate, rest[: -len(candidate) - 1]
        match = re.search(r"\.(amzn\d+)$", rest)
        dist = match.group(1) if match else ""
        return cls(text, version, rest, dist, arch)

    @property
    def series(self) -> str:
        """`5.10` for `5.10.102-...`: live patches and newer kernels stay within a series."""
        return ".".join(self.version.split(".")[:2])

    @property
    def release_without_dist(self) -> str:
        return self.release[: -len(self.dist) - 1] if self.dist else self.release

    @property
    def package(self) -> Nevra:
        """The kernel RPM that provides this release."""
        return Nevra("kernel", "0", self.version, self.release, self.arch or "x86_64")

    @property
    def livepatch_package_name(self) -> str:
        """`kernel-livepatch-5.10.102-99.473`: every live patch RPM for this kernel has this name."""
        return f"kernel-livepatch-{self.version}-{self.release_without_dist}"

    def __lt__(self, other: KernelRelease) -> bool:
        return compare_evr(("0", self.version, self.release), ("0", other.version, other.release)) < 0

    def __str__(self) -> str:
        return self.text
