"""An emulation of the AWS Lambda Runtime API, so a function's real `bootstrap` binary runs locally
exactly as in Lambda: it polls `/runtime/invocation/next` and posts a response or an error."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"


@dataclass
class Result:
    ok: bool
    payload: Any
    request_id: str

    @property
    def error_message(self) -> str:
        if self.ok:
            return ""
        if isinstance(self.payload, dict):
            return f"{self.payload.get('errorType', 'Error')}: {self.payload.get('errorMessage', '')}"
        return str(self.payload)


class LambdaFunction:
    """One warm function process fed invocations one at a time through the Runtime API."""

    def __init__(
        self,
        name: str,
        executable: str,
        env: dict[str, str],
        timeout_s: float = 300.0,
        log_path: str | None = None,
    ):
        self.name = name
        self.arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.timeout_s = timeout_s
        self._pending: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._results: dict[str, queue.Queue[Result]] = {}
        self._init_error: Any = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        port = self._server.server_address[1]
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA_")}
        child_env.update(env)
        child_env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            }
        )
        # The child keeps its own copy of the log's descriptor.
        with open(log_path or os.devnull, "ab") as log:
            self._process = subprocess.Popen(
                [executable], env=child_env, stdout=log, stderr=subprocess.STDOUT
            )

    def invoke(self, event: Any) -> Result:
        body = event if isinstance(event, (bytes, bytearray)) else json.dumps(event).encode()
        request_id = str(uuid.uuid4())
        results: queue.Queue[Result] = queue.Queue()
        self._results[request_id] = results
        self._pending.put((request_id, bytes(body)))
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            try:
                return results.get(timeout=0.2)
            except queue.Empty:
                if self._init_error is not None:
                    return Result(False, self._init_error, request_id)
                if self._process.poll() is not None:
                    return Result(
                        False, f"function process exited with {self._process.returncode}", request_id
                    )
        return Result(False, f"timed out after {self.timeout_s}s", request_id)

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._server.shutdown()

    def _handler(self):
        function = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, body: bytes = b"{}", headers: dict | None = None):
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404)
                request_id, body = function._pending.get()
                deadline_ms = int((time.time() + function.timeout_s) * 1000)
                self._reply(
                    200,
                    body,
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": function.arn,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
                    },
                )

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw) if raw else None
                except ValueError:
                    payload = raw.decode(errors="replace")
                parts = self.path[len(PREFIX) :].strip("/").split("/")
                if parts == ["init", "error"]:
                    function._init_error = payload
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    results = function._results.pop(parts[1], None)
                    if results is None:
                        return self._reply(400)
                    results.put(Result(parts[2] == "response", payload, parts[1]))
                else:
                    return self._reply(404)
                self._reply(202)

        return Handler
