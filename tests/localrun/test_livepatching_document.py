"""The AL2023 live patching document's script from template.yaml, run in bash against stateful stub
commands (rpm, dnf, systemctl, kpatch): what it runs, that it is idempotent, that it waits out a held
package manager lock and fails on anything else, and that it refuses other operating systems."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from localrun.stack import ROOT
from localrun.template import Template

KERNEL = "6.1.115-126.197.amzn2023.x86_64"

# Packages are files in $STATE/pkg; dnf and systemctl log every call to $STATE/calls. $STATE/locked
# holds how many more dnf calls find the lock held: like dnf 4, the stub then blocks ("Waiting for
# process with pid ...", here: fails with the marker "BLOCKED") unless run with exit_on_lock, which
# fails at once with "... already locked by ...". $STATE/broken makes dnf fail otherwise;
# $STATE/hang makes it print progress and then hang (killed by the step timeout).
STUBS = {
    "uname": f'echo "{KERNEL}"',
    "rpm": '[ "$1" = -q ] && [ -e "$STATE/pkg/$2" ]',
    "sleep": 'echo "sleep $*" >> "$STATE/calls"',
    "kpatch": 'printf "Loaded patch modules:\\n\\nInstalled patch modules:\\n"',
    "dnf": """echo "dnf $*" >> "$STATE/calls"
exit_on_lock=no
if [ "$1" = --setopt=exit_on_lock=True ]; then exit_on_lock=yes; shift; fi
locked=$(cat "$STATE/locked" 2>/dev/null || echo 0)
if [ "$locked" -gt 0 ]; then
  echo $((locked - 1)) > "$STATE/locked"
  if [ "$exit_on_lock" = no ]; then
    echo "Waiting for process with pid 2718 to finish."; echo BLOCKED; exit 99
  fi
  echo "Error: /var/cache/dnf/metadata_lock.pid already locked by 2718" >&2
  exit 1
fi
if [ -e "$STATE/broken" ]; then echo "Error: Unable to find a match: kpatch-dnf" >&2; exit 1; fi
if [ -e "$STATE/hang" ]; then echo "Downloading Packages: kpatch-dnf"; exec /bin/sleep 30; fi
case "$1" in
  install) touch "$STATE/pkg/$3"; echo "Installed: $3" ;;
  remove) rm -f "$STATE/pkg/$3"; echo "Removed: $3" ;;
  kernel-livepatch) echo "$3" > "$STATE/mode"; echo "Kernel Live Patching is set to $3." ;;
esac""",
    "systemctl": """echo "systemctl $*" >> "$STATE/calls"
case "$1" in
  enable) echo enabled > "$STATE/kpatch" ;;
  disable) echo disabled > "$STATE/kpatch" ;;
  is-enabled) cat "$STATE/kpatch" 2>/dev/null || { echo disabled; exit 1; } ;;
  is-active) grep -q enabled "$STATE/kpatch" 2>/dev/null && echo active || { echo inactive; exit 3; } ;;
  cat) [ -e "$STATE/pkg/kpatch-runtime" ] ;;
esac""",
}


def script(action: str) -> str:
    document = Template.load(ROOT / "template.yaml").resources["LivePatchingDocument"]
    content = document["Properties"]["Content"]
    assert content["parameters"]["Action"]["allowedValues"] == ["Enable", "Disable"]
    (step,) = content["mainSteps"]
    # Run Command substitutes the parameter before the script runs.
    return step["inputs"]["runCommand"][0].replace("{{ Action }}", action)


@pytest.fixture
def host(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    (state / "pkg").mkdir(parents=True)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, body in STUBS.items():
        (stubs / name).write_text("#!/bin/bash\n" + body + "\n")
        (stubs / name).chmod(0o755)
    (tmp_path / "os-release").write_text('NAME="Amazon Linux"\nID="amzn"\nVERSION_ID="2023"\n')
    return tmp_path


def run(host: Path, action: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": f"{host / 'bin'}:/usr/bin:/bin",
        "STATE": str(host / "state"),
        "LIVEPATCH_OS_RELEASE": str(host / "os-release"),
        "LIVEPATCH_DNF_ATTEMPTS": "3",
        "LIVEPATCH_DNF_PAUSE": "1",
    }
    return subprocess.run(["bash", "-c", script(action)], env=env, capture_output=True, text=True, timeout=60)


def calls(host: Path) -> list[str]:
    """The calls since the last look; every dnf call must set exit_on_lock (shown without it)."""
    path = host / "state" / "calls"
    lines = path.read_text().splitlines() if path.exists() else []
    path.write_text("")
    for line in lines:
        if line.startswith("dnf "):
            assert line.startswith("dnf --setopt=exit_on_lock=True "), line
    return [line.replace("--setopt=exit_on_lock=True ", "") for line in lines]


def test_enable_installs_the_plugin_sets_automatic_updates_and_enables_kpatch(host: Path) -> None:
    result = run(host, "Enable")
    assert result.returncode == 0, result.stderr
    assert calls(host) == [
        "dnf install -y kpatch-dnf",
        "dnf kernel-livepatch -y auto",
        "dnf install -y kpatch-runtime",
        "systemctl enable --now kpatch.service",
        "systemctl is-enabled kpatch.service",
        "systemctl is-active kpatch.service",
    ]
    assert result.stdout.startswith(f"Kernel live patching on {KERNEL}: Enable\n")
    assert "kpatch.service: enabled, active" in result.stdout
    assert result.stdout.rstrip().endswith("load at every boot.")


def test_enable_again_changes_nothing_it_does_not_need_to(host: Path) -> None:
    assert run(host, "Enable").returncode == 0
    calls(host)
    again = run(host, "Enable")
    assert again.returncode == 0, again.stderr
    assert "kpatch-dnf: already installed" in again.stdout
    assert "kpatch-runtime: already installed" in again.stdout
    assert [c for c in calls(host) if "install" in c] == []


def test_a_held_lock_is_waited_out_and_reported(host: Path) -> None:
    (host / "state" / "locked").write_text("2")
    result = run(host, "Enable")
    assert result.returncode == 0, result.stderr
    assert calls(host)[:5] == [
        "dnf install -y kpatch-dnf",
        "sleep 1",
        "dnf install -y kpatch-dnf",
        "sleep 1",
        "dnf install -y kpatch-dnf",
    ]
    assert "dnf is locked by another process; trying again in 1s (attempt 1 of 3)" in result.stderr
    assert "already locked by 2718" in result.stdout
    assert "BLOCKED" not in result.stdout + result.stderr


def test_dnf_output_is_streamed_so_a_step_timeout_does_not_lose_it(host: Path) -> None:
    (host / "state" / "hang").touch()
    env = {
        "PATH": f"{host / 'bin'}:/usr/bin:/bin",
        "STATE": str(host / "state"),
        "LIVEPATCH_OS_RELEASE": str(host / "os-release"),
    }
    # The agent kills the step at its timeout; what was printed until then is all there is.
    proc = subprocess.Popen(["bash", "-c", script("Enable")], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 10
        while "Downloading" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert "Downloading Packages: kpatch-dnf" in line
    finally:
        proc.kill()
        proc.wait()


def test_the_step_timeout_is_a_parameter_with_a_default() -> None:
    document = Template.load(ROOT / "template.yaml").resources["LivePatchingDocument"]
    content = document["Properties"]["Content"]
    parameter = content["parameters"]["StepTimeoutSeconds"]
    assert parameter["default"] == "1800"
    (step,) = content["mainSteps"]
    assert step["inputs"]["timeoutSeconds"] == "{{ StepTimeoutSeconds }}"


def test_a_lock_held_too_long_or_another_dnf_error_fails_the_command(host: Path) -> None:
    (host / "state" / "locked").write_text("9")
    result = run(host, "Enable")
    assert result.returncode == 1
    assert "stayed locked through 3 attempts" in result.stderr
    (host / "state" / "locked").write_text("0")
    (host / "state" / "broken").touch()
    calls(host)
    result = run(host, "Enable")
    assert result.returncode == 1
    assert "Unable to find a match" in result.stderr
    assert calls(host) == ["dnf install -y kpatch-dnf"], "no retry for an error that is not the lock"


def test_disable_stops_kpatch_sets_manual_mode_removes_the_plugin_and_is_idempotent(host: Path) -> None:
    run(host, "Enable")
    calls(host)
    result = run(host, "Disable")
    assert result.returncode == 0, result.stderr
    assert calls(host) == [
        "systemctl cat kpatch.service",
        "systemctl disable --now kpatch.service",
        "dnf kernel-livepatch -y manual",
        "dnf remove -y kpatch-dnf",
    ]
    assert "No reboot." in result.stdout
    # kpatch.service is a oneshot: disabling it unloads nothing, and the message says so.
    assert "unloaded" not in result.stdout
    assert "stay in effect until the next reboot" in result.stdout
    assert "kpatch unload --all" in result.stdout
    again = run(host, "Disable")
    assert again.returncode == 0, again.stderr
    assert "kpatch-dnf: not installed" in again.stdout


def test_the_simulated_fleet_runs_what_the_real_script_changes(host: Path) -> None:
    """livesim cannot run this bash script and replays its changing steps by name instead
    (tests/sim/livesim/klp_al2023.py): those steps must be the script's, in its order."""
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "sim"))
    from livesim import klp_al2023

    def changing(commands: list[str]) -> list[str]:
        return [
            c
            for c in commands
            if c.split()[:2] in (["dnf", "install"], ["dnf", "remove"], ["dnf", "kernel-livepatch"])
            or (c.startswith("systemctl ") and c.split()[1] in ("enable", "disable"))
        ]

    assert run(host, "Enable").returncode == 0
    assert changing(calls(host)) == changing(klp_al2023._ENABLE)
    assert run(host, "Disable").returncode == 0
    assert changing(calls(host)) == changing(klp_al2023._DISABLE)


def test_other_systems_and_actions_are_refused(host: Path) -> None:
    (host / "os-release").write_text(
        'NAME="Amazon Linux"\nID="amzn"\nVERSION_ID="2"\nPRETTY_NAME="Amazon Linux 2"\n'
    )
    result = run(host, "Enable")
    assert result.returncode == 1
    assert "Amazon Linux 2023 only; this instance runs Amazon Linux 2." in result.stderr
    assert "AWS-ConfigureKernelLivePatching" in result.stderr
    assert calls(host) == []
    (host / "os-release").write_text('ID="amzn"\nVERSION_ID="2023"\n')
    result = run(host, "Toggle")
    assert result.returncode == 2
    assert "Action must be Enable or Disable" in result.stderr
