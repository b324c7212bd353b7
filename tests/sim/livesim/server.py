"""One HTTP port: moto (every service) plus the simulation's control API under /_sim/."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from . import api
from .control import ControlApi
from .simulation import Simulation

SSM_TARGET_PREFIX = "AmazonSSM."
TAGGING_TARGET_PREFIX = "ResourceGroupsTaggingAPI_20170126."
#: Operations of these services can be given faults (operation names do not collide).
FAULT_TARGET_PREFIXES = (SSM_TARGET_PREFIX, TAGGING_TARGET_PREFIX)
#: SigV4: "Credential=<access key>/<date>/<region>/<service>/aws4_request".
#: Signing names whose IAM action prefix differs.
_IAM_PREFIX = {"tagging": "tag"}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/aws4_request")


#: Operations that pass an IAM role to SSM when the request names one (ServiceRoleArn): IAM
#: checks iam:PassRole on the caller as well as the operation's own action.
_PASSES_ROLE = {"RegisterTaskWithMaintenanceWindow", "UpdateMaintenanceWindowTask"}


def iam_actions(environ: dict[str, Any]) -> tuple[str, list[str]] | None:
    """(access key id, IAM actions such as ["ssm:SendCommand"]) of a signed AWS request, or None.

    JSON protocols name the operation in X-Amz-Target; query protocols (SNS) in the form's Action.
    A body read here is put back for moto.
    """
    signed = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if signed is None:
        return None
    access_key, service = signed.groups()
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    operation = target.rpartition(".")[2] if target else ""
    body = b""
    if not operation or operation in _PASSES_ROLE:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
    if not operation:
        operation = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    if not operation:
        return None
    actions = [f"{_IAM_PREFIX.get(service, service)}:{operation}"]
    if operation in _PASSES_ROLE:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        if isinstance(request, dict) and request.get("ServiceRoleArn"):
            actions.append("iam:PassRole")
    return access_key, actions


class LivesimApp:
    """Routes /_sim/ to the control API, injects queued SSM and tagging faults, and hands the rest to moto."""

    def __init__(self, simulation: Simulation):
        api.install(simulation)
        self.sim = simulation
        self.control = ControlApi(simulation)
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/_sim/"):
            return self.control(environ, start_response)
        call = iam_actions(environ)
        if call is not None:
            access_key, actions = call
            for action in actions:
                self.sim.record_call(access_key, action)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        prefix, _, operation = target.rpartition(".")
        if prefix and prefix + "." in FAULT_TARGET_PREFIXES:
            fault = self.sim.take_fault(operation)
            if fault is not None:
                body = json.dumps({"__type": fault.error, "message": fault.message}).encode()
                start_response(
                    f"{fault.status} Simulated Fault",
                    [
                        ("Content-Type", "application/x-amz-json-1.1"),
                        ("Content-Length", str(len(body))),
                        ("x-amzn-RequestId", "livesim-fault"),
                        ("x-amzn-ErrorType", fault.error),
                    ],
                )
                return [body]
        return self.moto(environ, start_response)


def _exit(*_: object) -> None:
    raise SystemExit(0)


class _RequestHandler(MotoRequestHandler):
    verbose = False

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.verbose:
            super().log_request(code, size)


def serve(simulation: Simulation, host: str, port: int, port_file: Path | None, verbose: bool) -> None:
    """Serve until SIGTERM/SIGINT. The port file appears once the socket listens."""
    _RequestHandler.verbose = verbose
    server = make_server(host, port, LivesimApp(simulation), threaded=True, request_handler=_RequestHandler)
    bound_port = server.server_address[1]
    if port_file is not None:
        partial = port_file.with_name(port_file.name + ".tmp")
        partial.write_text(f"{bound_port}\n")
        os.replace(partial, port_file)
    print(
        f"livesim: serving http://{host}:{bound_port} ({len(simulation.hosts)} instances)",
        file=sys.stderr,
        flush=True,
    )
    signal.signal(signal.SIGTERM, _exit)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
