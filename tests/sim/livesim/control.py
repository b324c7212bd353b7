"""The control API under /_sim/: drive the clock and the agents, read what the product did."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .fleet import FleetError, load_fleet
from .host import AGENT_STATES, FAILURE_MODES, INSTANCE_STATES, KPATCH_SERVICE_STATES, Host
from .maintenance import MaintenanceWindow
from .simulation import Fault, Simulation
from .timeutil import iso_seconds, parse_time
from .views import host_view, window_view
from .windowrun import WindowExecution

MAX_ADVANCE_STEPS = 100_000
DEFAULT_FAULT_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "InternalServerError": "An internal server error occurred.",
    "InvocationDoesNotExist": "The command ID and managed node ID didn't match any invocations.",
}


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ControlApi:
    def __init__(self, simulation: Simulation):
        self.sim = simulation
        self.routes = Map(
            [
                Rule("/_sim/health", endpoint="health", methods=["GET"]),
                Rule("/_sim/fleet", endpoint="get_fleet", methods=["GET"]),
                Rule("/_sim/fleet", endpoint="load_fleet", methods=["POST"]),
                Rule("/_sim/clock", endpoint="get_clock", methods=["GET"]),
                Rule("/_sim/clock", endpoint="set_clock", methods=["POST"]),
                Rule("/_sim/clock/advance", endpoint="advance_clock", methods=["POST"]),
                Rule("/_sim/windows", endpoint="windows", methods=["GET"]),
                Rule("/_sim/reboots", endpoint="reboots", methods=["GET"]),
                Rule("/_sim/agents/run", endpoint="run_agents", methods=["POST"]),
                Rule("/_sim/agents/mode", endpoint="get_mode", methods=["GET"]),
                Rule("/_sim/agents/mode", endpoint="set_mode", methods=["POST"]),
                Rule("/_sim/events", endpoint="events", methods=["GET"]),
                Rule("/_sim/notifications", endpoint="notifications", methods=["GET"]),
                Rule("/_sim/commands", endpoint="commands", methods=["GET"]),
                Rule("/_sim/instances/<instance_id>", endpoint="get_instance", methods=["GET"]),
                Rule("/_sim/instances/<instance_id>", endpoint="update_instance", methods=["POST"]),
                Rule("/_sim/faults", endpoint="get_faults", methods=["GET"]),
                Rule("/_sim/calls", endpoint="calls", methods=["GET"]),
                Rule("/_sim/faults", endpoint="add_fault", methods=["POST"]),
                Rule("/_sim/inventory/<instance_id>", endpoint="inventory", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = self.routes.bind_to_environ(environ).match()
            status, body = 200, getattr(self, endpoint)(request, **args)
        except ControlError as error:
            status, body = error.status, {"error": str(error)}
        except HTTPException as error:
            status, body = error.code or 500, {"error": error.description}
        response = Response(
            json.dumps(body, indent=2, default=str), status=status, mimetype="application/json"
        )
        return response(environ, start_response)

    # -- fleet and clock ----------------------------------------------------------------
    def health(self, request: Request) -> dict[str, Any]:
        with self.sim.lock:
            return {"status": "ok", "now": iso_seconds(self.sim.now), "instances": len(self.sim.hosts)}

    def get_fleet(self, request: Request) -> dict[str, Any]:
        with self.sim.lock:
            fleet = self.sim.fleet
            return {
                "account": fleet.account,
                "region": fleet.region,
                "now": iso_seconds(self.sim.now),
                "kernel_facts_document": fleet.facts_document,
                "state_spelling": fleet.state_spelling,
                "event_severity": fleet.event_severity,
                "instances": [host_view(h, self.sim.now) for h in self.sim.hosts],
            }

    def load_fleet(self, request: Request) -> dict[str, Any]:
        try:
            fleet = load_fleet(_json(request))
        except FleetError as error:
            raise ControlError(str(error)) from None
        self.sim.reset(fleet)
        return {"loaded": len(fleet.hosts), "now": iso_seconds(fleet.now)}

    def get_clock(self, request: Request) -> dict[str, Any]:
        return {"now": iso_seconds(self.sim.now)}

    def set_clock(self, request: Request) -> dict[str, Any]:
        body = _json(request)
        with self.sim.lock:
            if "now" in body:
                now = _time(body["now"])
            elif "advance_seconds" in body:
                now = self.sim.now + timedelta(seconds=float(body["advance_seconds"]))
            else:
                raise ControlError('give "now" (ISO-8601) or "advance_seconds"')
            started = self.sim.set_clock(now)
            return {"now": iso_seconds(self.sim.now), "windows_started": _started(started)}

    def advance_clock(self, request: Request) -> dict[str, Any]:
        """Move the clock in steps to `to`; windows run at their exact times on the way and, with
        `run_agents`, the agents work at every step and every window start."""
        body = _json(request)
        if "to" not in body:
            raise ControlError('"to" (ISO-8601) is required')
        target = _time(body["to"])
        step_minutes, run_agents = body.get("step_minutes", 60), body.get("run_agents", True)
        if isinstance(step_minutes, bool) or not isinstance(step_minutes, int | float) or step_minutes <= 0:
            raise ControlError('"step_minutes" must be a positive number')
        if not isinstance(run_agents, bool):
            raise ControlError('"run_agents" must be true or false')
        step = timedelta(minutes=step_minutes)
        with self.sim.lock:
            if target < self.sim.now:
                raise ControlError(
                    f'"to" is before the clock ({iso_seconds(self.sim.now)}); use POST /_sim/clock'
                )
            if (target - self.sim.now) / step > MAX_ADVANCE_STEPS:
                raise ControlError(f"more than {MAX_ADVANCE_STEPS} steps: give a larger step_minutes")
            events_before = len(self.sim.events)
            started = []
            while True:
                boundary = min(self.sim.now + step, target)
                started += self.sim.move_clock(boundary, run_agents)
                if boundary >= target:
                    break
            return {
                "now": iso_seconds(self.sim.now),
                "windows_started": _started(started),
                "events_emitted": len(self.sim.events) - events_before,
            }

    # -- agents ---------------------------------------------------------------------------
    def run_agents(self, request: Request) -> dict[str, Any]:
        return {"ran": self.sim.run_agents()}

    def get_mode(self, request: Request) -> dict[str, Any]:
        return {"auto": self.sim.auto_run}

    def set_mode(self, request: Request) -> dict[str, Any]:
        auto = _json(request).get("auto")
        if not isinstance(auto, bool):
            raise ControlError('"auto" must be true or false')
        with self.sim.lock:
            self.sim.auto_run = auto
        return {"auto": auto}

    # -- records ----------------------------------------------------------------------------
    def events(self, request: Request) -> dict[str, Any]:
        with self.sim.lock:
            return {"events": self.sim.events.after(_after(request))}

    def notifications(self, request: Request) -> dict[str, Any]:
        with self.sim.lock:
            return {"notifications": self.sim.notifications.after(_after(request))}

    def windows(self, request: Request) -> dict[str, Any]:
        with self.sim.lock:
            return {"windows": [window_view(w, self.sim.now) for w in self.sim.windows.windows.values()]}

    def reboots(self, request: Request) -> dict[str, Any]:
        with self.sim.lock:
            return {"reboots": list(self.sim.reboots)}

    def commands(self, request: Request) -> dict[str, Any]:
        with self.sim.lock:
            return {"commands": list(self.sim.command_requests)}

    def inventory(self, request: Request, instance_id: str) -> dict[str, Any]:
        with self.sim.lock:
            self._host(instance_id)
            items = self.sim.inventory.get(instance_id, {})
            return {
                "instance_id": instance_id,
                "items": {name: item.to_result_item() for name, item in items.items()},
            }

    # -- instances and faults -----------------------------------------------------------------
    def get_instance(self, request: Request, instance_id: str) -> dict[str, Any]:
        with self.sim.lock:
            return host_view(self._host(instance_id), self.sim.now)

    def update_instance(self, request: Request, instance_id: str) -> dict[str, Any]:
        changes = _json(request)
        with self.sim.lock:
            host = self._host(instance_id)
            for key, value in changes.items():
                _apply(host, key, value, self.sim)
            return host_view(host, self.sim.now)

    def calls(self, request: Request) -> dict[str, Any]:
        """Every AWS API call so far as its IAM action, by the access key id that signed it."""
        with self.sim.lock:
            return {
                "calls": [
                    {"access_key": key, "action": action, "count": n}
                    for (key, action), n in sorted(self.sim.calls.items())
                ]
            }

    def get_faults(self, request: Request) -> dict[str, Any]:
        with self.sim.lock:
            return {"faults": {op: vars(f) for op, f in self.sim.faults.items()}}

    def add_fault(self, request: Request) -> dict[str, Any]:
        body = _json(request)
        operation, error = body.get("operation"), body.get("error")
        if not isinstance(operation, str) or not isinstance(error, str):
            raise ControlError(
                '"operation" (e.g. SendCommand) and "error" (e.g. ThrottlingException) are required'
            )
        fault = Fault(
            error=error,
            message=body.get("message", DEFAULT_FAULT_MESSAGES.get(error, error)),
            status=int(body.get("status", 400)),
            remaining=int(body.get("count", 1)),
        )
        self.sim.add_fault(operation, fault)
        return {"operation": operation, **vars(fault)}

    def _host(self, instance_id: str) -> Host:
        host = self.sim.host(instance_id)
        if host is None:
            raise NotFound(f"no instance {instance_id} in the fleet")
        return host


def _apply(host: Host, key: str, value: Any, sim: Simulation) -> None:
    """One partial update of an instance, validated like the fleet file."""
    choices = {
        "failure": FAILURE_MODES,
        "state": INSTANCE_STATES,
        "agent": AGENT_STATES,
        "kpatch_service": KPATCH_SERVICE_STATES,
    }
    if key in choices:
        if value not in choices[key] and not (key == "failure" and value is None):
            raise ControlError(f"{key}: {value!r} is not one of {', '.join(choices[key])}")
        setattr(host, key, value)
        if key == "agent":
            host.last_ping = sim.now if value == "ConnectionLost" else None
    elif key == "managed" and isinstance(value, bool):
        host.managed = value
    elif key == "patch_group" and isinstance(value, str):
        host.patch_group = value
    elif key == "tags" and isinstance(value, dict):
        for tag, tag_value in value.items():
            if tag_value is None:
                host.tags.pop(tag, None)
            else:
                host.tags[tag] = str(tag_value)
    else:
        raise ControlError(f"cannot set {key!r} to {value!r}")


def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(as_text=True) or "{}")
    except json.JSONDecodeError as error:
        raise ControlError(f"body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _time(text: Any) -> Any:
    try:
        return parse_time(str(text))
    except ValueError as error:
        raise ControlError(f"not an ISO-8601 time: {error}") from None


def _after(request: Request) -> int:
    try:
        return max(0, int(request.args.get("after", "0")))
    except ValueError:
        raise ControlError("after must be an integer") from None


def _started(started: list[tuple[MaintenanceWindow, WindowExecution]]) -> list[dict[str, Any]]:
    return [
        {
            "window_id": window.id,
            "name": window.settings.name,
            "window_execution_id": execution.id,
            "start_time": iso_seconds(execution.started),
            "status": execution.status,
        }
        for window, execution in started
    ]
