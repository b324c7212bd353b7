"""`python -m livesim serve --port 0 --port-file F --fleet FLEET.json`"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from .fleet import FleetError, load_fleet
from .server import serve
from .simulation import Simulation
from .timeutil import iso_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="livesim", description="moto plus a simulated live-patched fleet")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve AWS (moto) and /_sim/ on one port")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve_parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    serve_parser.add_argument("--fleet", type=Path, help="fleet JSON (default: no instances, clock = now)")
    serve_parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    try:
        data = json.loads(args.fleet.read_text()) if args.fleet else {"now": iso_seconds(datetime.now(UTC))}
        fleet = load_fleet(data)
    except (OSError, json.JSONDecodeError, FleetError) as error:
        print(f"livesim: cannot load fleet: {error}", file=sys.stderr)
        return 2
    serve(Simulation(fleet), args.host, args.port, args.port_file, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
