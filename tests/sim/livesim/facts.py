"""The product's kernel facts document: what it collects and writes as custom inventory."""

from __future__ import annotations

import json
from datetime import datetime

from .host import Host
from .timeutil import iso_seconds

TYPE_NAME = "Custom:KernelLivePatch"
SCHEMA_VERSION = "1.0"


def kernel_facts(host: Host, now: datetime) -> dict[str, str]:
    """What `uname`, `systemctl`, `kpatch list` and the support command print, all strings."""
    return {
        "KernelRelease": str(host.kernel.release),
        "KernelVersion": host.kernel.uname_v,
        "OsId": host.platform.os_id,
        "OsVersion": host.platform.version,
        "Arch": host.arch,
        "LivePatchPlugin": "installed" if host.livepatch_plugin else "absent",
        "KpatchServiceEnabled": host.kpatch_enabled,
        "KpatchServiceActive": host.kpatch_active,
        "KpatchList": host.kpatch_list() if host.livepatch_plugin else "",
        "SupportOutput": host.support_output() if host.livepatch_plugin else "",
        "LivePatchAdvisories": livepatch_advisories(host, now) if host.livepatch_plugin else "",
        "CollectedAt": iso_seconds(now),
    }


def livepatch_advisories(host: Host, now: datetime) -> str:
    """`yum/dnf updateinfo list` lines of the running kernel's live patches offered and not installed."""
    lines = []
    for lp in host.kernel.livepatches_after(host.livepatch, now):
        if not lp.module:
            continue  # the empty first release carries no advisory
        advisory = lp.advisory
        kind = f"{advisory.severity.lower()}/Sec." if advisory.classification == "Security" else "bugfix"
        lines.append(f"{lp.advisory_id} {kind} {lp.package}")
    return "\n".join(lines)


def inventory_item(host: Host, now: datetime) -> dict[str, object]:
    """The item as PutInventory takes it (Content is a list of string maps)."""
    return {
        "TypeName": TYPE_NAME,
        "SchemaVersion": SCHEMA_VERSION,
        "CaptureTime": iso_seconds(now),
        "Content": [kernel_facts(host, now)],
    }


def stdout(item: dict[str, object]) -> str:
    """The document prints the item with its one entry as an object."""
    printed = dict(item)
    printed["Content"] = item["Content"][0]  # type: ignore[index]
    return json.dumps(printed, indent=2) + "\n"
