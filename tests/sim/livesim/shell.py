"""A tiny shell for aws:runShellScript steps: the commands that matter for live patching.

Each line is one command; the script stops at the first failing line (like `set -e`).
A line livesim does not know fails with exit code 127 and says so, rather than
pretending to succeed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from datetime import datetime

from .failures import package_manager_failure
from .host import Host
from .outcome import StepResult

Output = tuple[str, str, int]  # stdout, stderr, exit code
Handler = Callable[[Host, datetime, list[str]], Output]

_NOOP = re.compile(r"^(#.*|set( .*)?|true|:|)$")  # comments and shell options


def run_script(host: Host, now: datetime, lines: list[str]) -> StepResult:
    stdout, stderr = "", ""
    for raw in lines:
        line = raw.strip()
        if line.startswith("sudo "):
            line = line[5:].strip()
        if _NOOP.match(line):
            continue
        out, err, code = _dispatch(host, now, line)
        stdout, stderr = stdout + out, stderr + err
        if code != 0:
            return StepResult.failed(stderr, stdout=stdout, code=code)
    return StepResult.success(stdout, stderr=stderr)


def _dispatch(host: Host, now: datetime, line: str) -> Output:
    try:
        words = shlex.split(line)
    except ValueError:
        words = []
    for pattern, handler in _COMMANDS:
        match = pattern.fullmatch(" ".join(words))
        if match:
            return handler(host, now, list(match.groups()))
    return "", f"livesim: command not simulated: {line}\n", 127


# -- handlers ---------------------------------------------------------------
def _echo(host: Host, now: datetime, args: list[str]) -> Output:
    return (args[0] or "") + "\n", "", 0


def _uname_r(host: Host, now: datetime, args: list[str]) -> Output:
    return f"{host.kernel.release}\n", "", 0


def _uname_v(host: Host, now: datetime, args: list[str]) -> Output:
    return f"{host.kernel.uname_v}\n", "", 0


def _kpatch_list(host: Host, now: datetime, args: list[str]) -> Output:
    if not host.livepatch_plugin:
        return "", "bash: kpatch: command not found\n", 127
    return host.kpatch_list(), "", 0


def _is_enabled(host: Host, now: datetime, args: list[str]) -> Output:
    state = host.kpatch_enabled
    return f"{state}\n", "", 0 if state == "enabled" else 1


def _is_active(host: Host, now: datetime, args: list[str]) -> Output:
    state = host.kpatch_active
    return f"{state}\n", "", 0 if state == "active" else 3


def _enable_service(host: Host, now: datetime, args: list[str]) -> Output:
    host.kpatch_service = "enabled"
    if args[0]:  # --now
        host.load_installed_modules()
    link = "/etc/systemd/system/multi-user.target.wants/kpatch.service"
    return "", f"Created symlink {link} → /usr/lib/systemd/system/kpatch.service.\n", 0


def _disable_service(host: Host, now: datetime, args: list[str]) -> Output:
    # kpatch.service is a oneshot (`kpatch load --all`, no ExecStop): stopping it unloads
    # nothing; loaded live patches stay in effect until the next reboot.
    host.kpatch_service = "disabled"
    return "", "Removed /etc/systemd/system/multi-user.target.wants/kpatch.service.\n", 0


def _install(host: Host, now: datetime, args: list[str]) -> Output:
    manager, package = args
    failure = _manager_check(host, now, manager, downloading=True)
    if failure:
        return failure
    return f"Package {package} installed.\nComplete!\n", "", 0


def _remove(host: Host, now: datetime, args: list[str]) -> Output:
    manager, package = args
    failure = _manager_check(host, now, manager, downloading=False)
    if failure:
        return failure
    if package in ("kpatch-dnf", "yum-plugin-kernel-livepatch"):
        host.livepatch_plugin = False
    return f"Removed:\n  {package}\nComplete!\n", "", 0


def _livepatch_mode(host: Host, now: datetime, args: list[str]) -> Output:
    manager, mode = args
    failure = _manager_check(host, now, manager, downloading=False)
    if failure:
        return failure
    host.livepatch_plugin = mode in ("auto", "enable")
    if manager == "dnf":
        return f"Kernel Live Patching is set to {mode}.\n", "", 0
    return f"Kernel live patching {'enabled' if host.livepatch_plugin else 'disabled'}.\n", "", 0


def _support(host: Host, now: datetime, args: list[str]) -> Output:
    failure = _manager_check(host, now, "dnf", downloading=False)
    if failure:
        return failure
    if not host.livepatch_plugin:
        return "", "No such command: kernel-livepatch. Please use /usr/bin/dnf --help\n", 1
    return host.support_output() + "\n", "", 0


def _extras_enable(host: Host, now: datetime, args: list[str]) -> Output:
    if not host.platform.is_al2:
        return "", "bash: amazon-linux-extras: command not found\n", 127
    return "Topic livepatch has end-of-support date of 2026-06-30\n", "", 0


def _manager_check(host: Host, now: datetime, manager: str, downloading: bool) -> Output | None:
    if host.platform.package_manager != manager:
        return "", f"bash: {manager}: command not found\n", 127
    stderr = package_manager_failure(host, now, downloading)
    return ("", stderr, 1) if stderr else None


_SERVICE = r"kpatch(?:\.service)?"
_COMMANDS: list[tuple[re.Pattern[str], Handler]] = [
    (re.compile(r"echo ?(.*)"), _echo),
    (re.compile(r"uname -r"), _uname_r),
    (re.compile(r"uname -v"), _uname_v),
    (re.compile(r"kpatch list"), _kpatch_list),
    (re.compile(rf"systemctl is-enabled {_SERVICE}"), _is_enabled),
    (re.compile(rf"systemctl is-active {_SERVICE}"), _is_active),
    (re.compile(rf"systemctl enable( --now)? {_SERVICE}"), _enable_service),
    (re.compile(rf"systemctl disable( --now)? {_SERVICE}"), _disable_service),
    (re.compile(r"(yum|dnf) install -y (kpatch-runtime|kpatch-dnf|yum-plugin-kernel-livepatch)"), _install),
    (re.compile(r"(yum|dnf) install (kpatch-runtime|kpatch-dnf|yum-plugin-kernel-livepatch) -y"), _install),
    (re.compile(r"(yum|dnf) remove -y (kpatch-dnf|yum-plugin-kernel-livepatch)"), _remove),
    (re.compile(r"(dnf) kernel-livepatch (?:-y )?(auto|manual)(?: -y)?"), _livepatch_mode),
    (re.compile(r"(yum) kernel-livepatch (enable|disable)(?: -y)?"), _livepatch_mode),
    (re.compile(r"dnf kernel-livepatch support"), _support),
    (re.compile(r"amazon-linux-extras enable livepatch"), _extras_enable),
]
