"""`python -m localrun demo` runs the demo; `python -m localrun deploy` deploys template.yaml into a
running local AWS and prints the deployment (the Rust end-to-end tests use it)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .stack import ROOT


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="localrun")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demo against the simulated fleet")
    demo.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "debug")
    demo.add_argument("--fleet", type=Path, default=ROOT / "tests" / "fleets" / "demo.json")
    demo.add_argument("--event", type=Path, default=ROOT / "events" / "scheduled-scan.json")
    dep = sub.add_parser("deploy", help="deploy template.yaml into a running local AWS")
    dep.add_argument("--endpoint", required=True)
    dep.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from . import demo as demo_module

        return demo_module.run(args.bin_dir.resolve(), args.fleet.resolve(), args.event.resolve())

    from .stack import client_for, deploy
    from .template import Template

    def client(service: str):
        return client_for(args.endpoint, service)

    overrides = dict(item.split("=", 1) for item in args.set)
    deployment = deploy(client, Template.load(ROOT / "template.yaml"), overrides)
    json.dump(deployment.to_json(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
