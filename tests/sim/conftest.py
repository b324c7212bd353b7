"""Fixtures: a livesim server process and clients that talk to it as the product would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

SIM_DIR = Path(__file__).resolve().parent
FLEETS = SIM_DIR.parent / "fleets"
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}


class SimServer:
    """A running `python -m livesim serve` and helpers for its control API."""

    def __init__(self, process: subprocess.Popen[bytes], port: int):
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def client(self, service: str, attempts: int = 1) -> Any:
        config = Config(retries={"total_max_attempts": attempts, "mode": "standard"})
        return boto3.client(service, endpoint_url=self.url, config=config, **CREDENTIALS)

    def get(self, path: str) -> Any:
        return self._call("GET", path, None)

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("POST", path, {} if body is None else body)

    def _call(self, method: str, path: str, body: Any) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(tmp_dir: Path, fleet: Path | None) -> SimServer:
    port_file = tmp_dir / "livesim.port"
    command = [sys.executable, "-m", "livesim", "serve", "--port", "0", "--port-file", str(port_file)]
    if fleet is not None:
        command += ["--fleet", str(fleet)]
    log = open(tmp_dir / "livesim.log", "wb")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(
        command, cwd=SIM_DIR, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"livesim did not start: {(tmp_dir / 'livesim.log').read_text()}")
        time.sleep(0.05)
    return SimServer(process, int(port_file.read_text()))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    sim = start_server(tmp_path_factory.mktemp("livesim"), FLEETS / "small.json")
    yield sim
    sim.stop()


def load_fleet(name: str, **overrides: Any) -> dict[str, Any]:
    fleet = json.loads((FLEETS / name).read_text())
    fleet.update(overrides)
    return fleet


@pytest.fixture
def sim(server: SimServer) -> SimServer:
    """The shared server, reset: fresh moto state and the small fleet."""
    server.post("/moto-api/reset")
    server.post("/_sim/fleet", load_fleet("small.json"))
    return server


@pytest.fixture
def ssm(sim: SimServer) -> Any:
    return sim.client("ssm")


def fleet_error(server: SimServer, fleet: Any) -> tuple[int, str]:
    try:
        server.post("/_sim/fleet", fleet)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)["error"]
    return 200, ""
