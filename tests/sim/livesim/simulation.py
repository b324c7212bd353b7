"""The state of one simulated world: fleet, clock, commands, maintenance windows, inventory,
events, notifications, reboots.

One Simulation per server process. moto serves requests on many threads: every
reader and writer holds `lock`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import events, facts
from .agent import Agent
from .commands import Command, Invocation
from .fleet import Fleet
from .host import Host
from .inventory import InventoryItem, parse_item
from .maintenance import MaintenanceWindow, WindowStore
from .patchstate import PatchState
from .timeutil import iso_seconds
from .windowrun import WindowExecution, WindowRunner


class RecordLog:
    """Append-only records with a sequence number, read with `after=<seq>`."""

    def __init__(self, key: str):
        self._key = key
        self._records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> None:
        self._records.append({"seq": len(self._records) + 1, self._key: record})

    def after(self, seq: int) -> list[dict[str, Any]]:
        return self._records[seq:]

    def __len__(self) -> int:
        return len(self._records)


@dataclass
class Fault:
    error: str
    message: str
    status: int
    remaining: int


class Simulation:
    def __init__(self, fleet: Fleet):
        self.lock = threading.RLock()
        self.agent = Agent(self)
        self.runner = WindowRunner(self)
        #: (access key id, IAM action) of every AWS API call, counted: who called what. A new fleet
        #: keeps them.
        self.calls: dict[tuple[str, str], int] = {}
        self.reset(fleet)

    def reset(self, fleet: Fleet) -> None:
        with self.lock:
            self.fleet = fleet
            self.now: datetime = fleet.now
            self.commands: dict[str, Command] = {}
            self.command_requests: list[dict[str, Any]] = []
            self.inventory: dict[str, dict[str, InventoryItem]] = {}
            self.events = RecordLog("event")
            self.notifications = RecordLog("notification")
            self.faults: dict[str, Fault] = {}
            self.windows = WindowStore()
            self.reboots: list[dict[str, Any]] = []
            self.auto_run = False
            for host in fleet.hosts.values():
                if host.facts_collected is not None:
                    self.put_inventory(host.id, [facts.inventory_item(host, host.facts_collected)])

    # -- who is there -------------------------------------------------------------
    def serves(self, account: str, region: str) -> bool:
        """The fleet lives in one account and region, as real instances do."""
        return (account, region) == (self.fleet.account, self.fleet.region)

    @property
    def hosts(self) -> list[Host]:
        return list(self.fleet.hosts.values())

    def host(self, instance_id: str) -> Host | None:
        return self.fleet.hosts.get(instance_id)

    def instance_arn(self, host: Host) -> str:
        return host.arn(self.fleet.region, self.fleet.account)

    # -- clock --------------------------------------------------------------------
    def set_clock(self, now: datetime) -> list[tuple[MaintenanceWindow, WindowExecution]]:
        """Move the clock; windows due on the way run, and in auto mode so do the agents."""
        return self.move_clock(now, run_agents=self.auto_run)

    def move_clock(
        self, target: datetime, run_agents: bool
    ) -> list[tuple[MaintenanceWindow, WindowExecution]]:
        """Move the clock to `target`, stopping at each window occurrence on the way, in time order.

        At each stop the window's execution starts at exactly its scheduled time; with
        `run_agents` the agents then work until nothing runnable is left at that time.
        Moving back in time runs nothing: a window never runs an occurrence twice.
        """
        started = []
        with self.lock:
            while (due := self._next_due(target)) is not None:
                instant, window = due
                self._tick(instant)
                started.append((window, self.runner.start(window, instant)))
                if run_agents:
                    self.run_until_idle()
            for window in self._fleet_windows():
                # Disabled windows skip what fell due meanwhile, rather than catch up later.
                window.scheduled_through = max(window.scheduled_through, target)
            self._tick(target)
            if run_agents:
                self.run_until_idle()
        return started

    def _tick(self, instant: datetime) -> None:
        self.now = instant
        self._expire_undelivered()
        self.runner.settle()

    def _fleet_windows(self) -> list[MaintenanceWindow]:
        """Windows run only where the fleet is: elsewhere they would have no instances anyway."""
        return self.windows.visible(self.fleet.account, self.fleet.region)

    def _next_due(self, target: datetime) -> tuple[datetime, MaintenanceWindow] | None:
        due = []
        for window in self._fleet_windows():
            if window.settings.enabled:
                instant = window.next_run(window.scheduled_through)
                if instant is not None and instant <= target:
                    due.append((instant, window.created, window.id, window))
        if not due:
            return None
        first = min(due, key=lambda d: d[:3])
        return first[0], first[3]

    # -- commands -----------------------------------------------------------------
    def add_command(self, command: Command, request: dict[str, Any], run_now: bool = True) -> None:
        """Store a new command; in auto mode the agents pick it up at once unless `run_now` is off."""
        with self.lock:
            self.commands[command.id] = command
            self.command_requests.append(request)
            if command.final:
                self._emit_command_event_once(command)
            elif self.auto_run and run_now:
                self.run_agents()

    def cancel_command(self, command: Command, instance_ids: list[str]) -> None:
        with self.lock:
            command.cancelled = True
            for invocation in command.invocations:
                if invocation.status in ("Pending", "Delayed") and (
                    not instance_ids or invocation.instance_id in instance_ids
                ):
                    invocation.set_status("Cancelled")
                    self._emit_invocation_event(command, invocation)
            self._emit_command_event_once(command)
            self.runner.settle()

    def run_agents(self) -> list[dict[str, Any]]:
        """One pass: every agent picks up what waits for it, new invocations and reboots to finish.
        Window executions then move on (and may send their next commands)."""
        with self.lock:
            ran = self._agent_pass()
            self.runner.settle()
            return ran

    def run_until_idle(self) -> list[dict[str, Any]]:
        """Agent passes until nothing is left to do at this time: a RebootIfNeeded install takes
        two (the reboot, then the resumed step), a window with MaxConcurrency one per target."""
        ran: list[dict[str, Any]] = []
        with self.lock:
            self.runner.settle()
            while True:
                batch = self._agent_pass()
                sent = self.runner.settle()
                ran += batch
                if not batch and not sent:
                    return ran

    def _agent_pass(self) -> list[dict[str, Any]]:
        ran = []
        with self.lock:
            self._expire_undelivered()
            for command in list(self.commands.values()):
                for invocation in command.invocations:
                    host = self.host(invocation.instance_id)
                    if invocation.final or host is None:
                        continue
                    if not host.reachable:
                        if host.state == "stopped" and invocation.status == "Pending":
                            invocation.set_status("Delayed")
                        continue
                    if invocation.resume_after_reboot is not None:
                        self.agent.resume(command, invocation, host, self.now)
                    elif invocation.status in ("Pending", "Delayed"):
                        self.agent.deliver(command, invocation, host, self.now)
                    else:
                        continue
                    ran.append(_run_summary(command, invocation))
                    if invocation.final:
                        self._emit_invocation_event(command, invocation)
                self._emit_command_event_once(command)
        return ran

    def _expire_undelivered(self) -> None:
        """Invocations an unreachable instance never picked up time out at the command's deadline."""
        for command in self.commands.values():
            if self.now < command.expires:
                continue
            for invocation in command.invocations:
                host = self.host(invocation.instance_id)
                waiting = invocation.status in ("Pending", "Delayed")
                if waiting and (host is None or not host.reachable):
                    invocation.set_status("TimedOut", "DeliveryTimedOut")
                    self._emit_invocation_event(command, invocation)
            self._emit_command_event_once(command)

    # -- what instances report ------------------------------------------------------
    def record_reboot(self, host: Host, command: Command, from_kernel: str) -> None:
        """Every reboot the simulation performs, for `/_sim/reboots`."""
        origin = command.origin
        self.reboots.append(
            {
                "instance_id": host.id,
                "time": iso_seconds(self.now),
                "from_kernel": from_kernel,
                "to_kernel": str(host.kernel.release),
                "command_id": command.id,
                "document_name": command.document_name,
                "window_id": origin.window_id if origin else None,
                "window_execution_id": origin.window_execution_id if origin else None,
            }
        )

    def report_patch_state(self, host: Host, state: PatchState) -> None:
        host.patch_state = state
        compliance = (state.compliance_status, state.compliance_severity(self.fleet.event_severity))
        if compliance != host.compliance:
            host.compliance = compliance
            self.events.append(
                events.compliance_state_change(
                    account=self.fleet.account,
                    region=self.fleet.region,
                    time=self.now,
                    instance_arn=self.instance_arn(host),
                    instance_id=host.id,
                    status=compliance[0],
                    severity=compliance[1],
                    baseline_id=state.baseline_id,
                )
            )

    def put_inventory(self, instance_id: str, raw_items: list[dict[str, Any]]) -> None:
        items = [parse_item(raw) for raw in raw_items]
        with self.lock:
            stored = self.inventory.setdefault(instance_id, {})
            for item in items:
                stored[item.type_name] = item

    # -- who called what -------------------------------------------------------------
    def record_call(self, access_key: str, action: str) -> None:
        with self.lock:
            key = (access_key, action)
            self.calls[key] = self.calls.get(key, 0) + 1

    # -- faults ---------------------------------------------------------------------
    def add_fault(self, operation: str, fault: Fault) -> None:
        with self.lock:
            self.faults[operation] = fault

    def take_fault(self, operation: str) -> Fault | None:
        with self.lock:
            fault = self.faults.get(operation)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                del self.faults[operation]
            return fault

    # -- events ---------------------------------------------------------------------
    def _emit_invocation_event(self, command: Command, invocation: Invocation) -> None:
        host = self.host(invocation.instance_id)
        arn = self.instance_arn(host) if host else invocation.instance_id
        self.events.append(
            events.invocation_status_change(
                account=self.fleet.account,
                region=self.fleet.region,
                time=self.now,
                instance_arn=arn,
                command_id=command.id,
                document_name=command.document_name,
                instance_id=invocation.instance_id,
                requested=command.requested,
                status=invocation.status,
            )
        )

    def _emit_command_event_once(self, command: Command) -> None:
        if not command.final or command.status_event_sent:
            return
        command.status_event_sent = True
        arns = []
        for invocation in command.invocations:
            host = self.host(invocation.instance_id)
            arns.append(self.instance_arn(host) if host else invocation.instance_id)
        self.events.append(
            events.command_status_change(
                account=self.fleet.account,
                region=self.fleet.region,
                time=self.now,
                instance_arns=arns,
                command_id=command.id,
                document_name=command.document_name,
                expires=command.expires,
                parameters=command.parameters,
                requested=command.requested,
                status=command.status()[0],
            )
        )


def _run_summary(command: Command, invocation: Invocation) -> dict[str, Any]:
    return {
        "command_id": command.id,
        "instance_id": invocation.instance_id,
        "document_name": command.document_name,
        "status": invocation.status,
        "status_details": invocation.status_details,
        "response_code": next((p.response_code for p in invocation.plugins if p.status != "Success"), 0)
        if invocation.final
        else -1,
    }
