"""Operating systems the fleet runs and how each one shows itself to SSM and on a shell."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    key: str  # fleet spelling: AL2, AL2023, Ubuntu...
    name: str  # InstanceInformation.PlatformName
    version: str  # InstanceInformation.PlatformVersion
    os_id: str  # /etc/os-release ID
    package_manager: str  # yum, dnf, apt
    uname_flags: str  # between `#1` and the date in `uname -v`
    baseline_os: str  # Patch Manager OperatingSystem of the default baseline

    @property
    def is_amazon_linux(self) -> bool:
        return self.os_id == "amzn"

    @property
    def is_al2(self) -> bool:
        return self.key == "AL2"

    @property
    def is_al2023(self) -> bool:
        return self.key == "AL2023"


_AMAZON = {
    "AL2": Platform("AL2", "Amazon Linux", "2", "amzn", "yum", "SMP", "AMAZON_LINUX_2"),
    "AL2023": Platform(
        "AL2023", "Amazon Linux", "2023", "amzn", "dnf", "SMP PREEMPT_DYNAMIC", "AMAZON_LINUX_2023"
    ),
}

_OTHER_BASELINES = {
    "ubuntu": ("UBUNTU", "apt"),
    "debian": ("DEBIAN", "apt"),
    "rhel": ("REDHAT_ENTERPRISE_LINUX", "dnf"),
    "centos": ("CENTOS", "yum"),
    "sles": ("SUSE", "zypper"),
}


def platform_for(key: str, version: str | None) -> Platform:
    """`AL2`/`AL2023`, or another Linux named as SSM names it (`Ubuntu` with `22.04`)."""
    if key in _AMAZON:
        return _AMAZON[key]
    if not version:
        raise ValueError(f"platform {key!r} needs a platform_version (e.g. 22.04)")
    os_id = key.split()[0].lower()
    baseline_os, manager = _OTHER_BASELINES.get(os_id, ("AMAZON_LINUX_2", "yum"))
    return Platform(key, key, version, os_id, manager, "SMP", baseline_os)
