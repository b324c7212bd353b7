"""What yum, dnf and kpatch print when an instance's injected failure mode strikes."""

from __future__ import annotations

from datetime import datetime, timedelta

from .host import Host

LOCK_PID = 2718


def package_manager_failure(host: Host, now: datetime, downloading: bool) -> str | None:
    """stderr of a yum/dnf run under the host's failure mode, or None when it would work."""
    if host.failure == "yum_lock":
        return _lock_held(host, now)
    if host.failure == "disk_full":
        return _disk_full(host, downloading)
    return None


def _lock_held(host: Host, now: datetime) -> str:
    if host.platform.package_manager == "dnf":
        return (
            f"Waiting for process with pid {LOCK_PID} to finish.\n"
            "Error: Failed to obtain the transaction lock (logged in as: root).\n"
        )
    started = now - timedelta(minutes=1, seconds=48)
    return (
        f"Existing lock /var/run/yum.pid: another copy is running as pid {LOCK_PID}.\n"
        "Another app is currently holding the yum lock; waiting for it to exit...\n"
        "  The other application is: yum\n"
        "    Memory : 152 M RSS (470 MB VSZ)\n"
        f"    Started: {started.strftime('%a %b %d %H:%M:%S %Y')} - 01:48 ago\n"
        f"    State  : Sleeping, pid: {LOCK_PID}\n"
        "ERROR: yum lock held by another process; giving up after 600 seconds\n"
    )


def _disk_full(host: Host, downloading: bool) -> str:
    if host.platform.package_manager == "dnf":
        cache = f"/var/cache/dnf/amazonlinux-{host.arch}"
    else:
        cache = f"/var/cache/yum/{host.arch}/2/amzn2-core"
    if downloading:
        return (
            f"Error: Insufficient space in download directory {cache}/packages\n"
            "    * free   12 M\n"
            "    * needed 48 M\n"
        )
    return f"[Errno 28] No space left on device: '{cache}/repomd.xml'\n"


def kpatch_stalled(host: Host, modules: list[str]) -> str:
    lines = []
    for module in modules:
        lines += [
            f"loading patch module: /var/lib/kpatch/{host.kernel.release}/{module}.ko",
            "waiting (up to 15 seconds) for patch transition to complete...",
            "transition still in progress after 15 seconds; disabling...",
            f"kpatch: error: failed to load module {module}: patch transition has stalled!",
        ]
    return "\n".join(lines) + "\n"
