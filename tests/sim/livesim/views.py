"""JSON views of simulation state for the control API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .host import Host
from .patchstate import STATE_SPELLINGS
from .timeutil import iso_seconds


def host_view(host: Host, now: datetime) -> dict[str, Any]:
    return {
        "id": host.id,
        "name": host.name,
        "platform": host.platform.key,
        "platform_version": host.platform.version,
        "arch": host.arch,
        "kernel": str(host.kernel.release),
        "kernel_built": iso_seconds(host.kernel.built),
        "uname_v": host.kernel.uname_v,
        "booted": iso_seconds(host.booted),
        "pending_kernel": str(host.pending_kernel.release) if host.pending_kernel else None,
        "livepatch": {
            "plugin": host.livepatch_plugin,
            "kpatch_service": host.kpatch_service,
            "installed_package": str(host.livepatch.package) if host.livepatch else None,
            "installed_modules": host.installed_modules,
            "loaded_modules": [m for m in host.installed_modules if m in host.loaded_modules],
            "load_failed": host.livepatch_load_failed,
        },
        "support_end": host.kernel.support_end.isoformat() if host.platform.is_amazon_linux else None,
        "support_ended": host.platform.is_amazon_linux and now.date() > host.kernel.support_end,
        "patch_compliance": _compliance(host),
        "missing_packages": [str(p.package) for p in host.missing_packages],
        "pending_reboot_packages": [
            str(p.package.package) for p in host.installed_packages if p.pending_reboot
        ],
        "managed": host.managed,
        "state": host.state,
        "agent": host.agent,
        "tags": host.tags,
        "patch_group": host.patch_group,
        "failure": host.failure,
    }


def _compliance(host: Host) -> dict[str, Any]:
    state = host.patch_state
    if state is None:
        return {"status": "not_scanned"}
    counts = {f"{spelling.lower()}_count": state.count(name) for name, spelling in STATE_SPELLINGS.items()}
    return {
        "status": state.compliance_status,
        "operation": state.operation,
        "time": iso_seconds(state.ended),
        "baseline_id": state.baseline_id,
        **counts,
    }
