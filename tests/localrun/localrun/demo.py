"""The demo: a simulated fleet, the scheduled scan delivered to the real `scan` binary, then what the
instances answered, what people were told, and the fleet afterwards."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from . import router
from .runtime_api import LambdaFunction
from .stack import ROOT, LocalAws, deploy
from .template import Template


def heading(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 96 - len(text)))


def fleet_table(fleet: dict) -> str:
    columns = ["instance", "name", "platform", "kernel", "live patching", "support ends", "patch state"]
    rows = []
    for i in fleet["instances"]:
        state = i.get("state", "running")
        reach = "" if i.get("managed", True) else " (unmanaged)"
        if state != "running":
            reach = f" ({state})"
        compliance = i.get("compliance") or {}
        status = compliance.get("status", "not scanned") if isinstance(compliance, dict) else str(compliance)
        if isinstance(compliance, dict) and compliance.get("missing"):
            status += f", {compliance['missing']} missing"
        livepatch = "on" if i.get("livepatch") else "off"
        if i.get("livepatch") and i.get("kpatch_service") not in (None, "enabled"):
            livepatch += f" (kpatch.service {i['kpatch_service']})"
        rows.append([i["id"] + reach, i.get("name", ""), i.get("platform", ""), i.get("kernel", ""),
                     livepatch, str(i.get("support_ends") or "-"), status])
    widths = [max(len(str(r[c])) for r in rows + [columns]) for c in range(len(columns))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in rows])


def print_notification(note: dict) -> None:
    print(f"\n--- SNS publish to {note.get('topic_arn') or note.get('TopicArn')}")
    print(f"Subject: {note.get('subject') or note.get('Subject')}")
    message = note.get("message") or note.get("Message")
    structure = note.get("message_structure") or note.get("MessageStructure")
    if structure == "json":
        body = json.loads(message)
        print("\n[email]\n" + textwrap.indent(body.get("email", body["default"]), "  "))
        if "https" in body:
            print("[chat card]\n" + textwrap.indent(json.dumps(json.loads(body["https"]), indent=2), "  "))
    else:
        print(textwrap.indent(message, "  "))


def run(bin_dir: Path, fleet: Path, event_file: Path) -> int:
    template = Template.load(ROOT / "template.yaml")
    event = json.loads(event_file.read_text())
    aws = LocalAws(fleet, log_path=ROOT / "target" / "livesim.log")
    functions: dict[str, LambdaFunction] = {}
    try:
        aws.control("POST", "clock", {"now": event["time"]})
        deployment = deploy(aws.client, template)
        before = aws.control("GET", "fleet")
        heading(f"Simulated fleet: {len(before['instances'])} instances, clock {event['time']}")
        print(fleet_table(before))

        def function(binary: str) -> LambdaFunction:
            if binary not in functions:
                env = {**deployment.environments[binary], **aws.sdk_env(), "AWS_LAMBDA_LOG_FORMAT": "Text"}
                functions[binary] = LambdaFunction(binary, str(bin_dir / binary), env,
                                                   log_path=str(ROOT / "target" / f"{binary}.log"))
            return functions[binary]

        schedules = router.scheduled(template)
        heading(f"Deliver {event_file.relative_to(ROOT)} (schedule {schedules}) through the Lambda Runtime API")
        for binary, _ in schedules:
            result = function(binary).invoke(event)
            print(f"{binary}: {'ok' if result.ok else 'FAILED ' + result.error_message}")
            if result.ok:
                print(textwrap.indent(json.dumps(result.payload, indent=2), "  "))

        heading("Simulated instances answer Run Command")
        ran = aws.control("POST", "agents/run", {})
        for item in ran.get("invocations", ran if isinstance(ran, list) else []):
            print(f"  {item.get('instance_id')}  {item.get('document')}  {item.get('status')}"
                  + (f"  ({item['detail']})" if item.get("detail") else ""))

        heading("Events emitted by the simulated services, routed by template.yaml")
        for entry in aws.control("GET", "events")["events"]:
            ev = entry["event"]
            detail = ev["detail"]
            subject = detail.get("resource-id") or detail.get("instance-id") or detail.get("command-id")
            status = detail.get("compliance-status") or detail.get("status")
            targets = router.subscribers(template, ev) or ["no function subscribed yet"]
            print(f"  {ev['detail-type']}: {subject} {status} -> {', '.join(targets)}")

        heading("Notifications")
        for entry in aws.control("GET", "notifications")["notifications"]:
            print_notification(entry.get("notification", entry))

        heading("Fleet after the run")
        print(fleet_table(aws.control("GET", "fleet")))
        return 0
    finally:
        for f in functions.values():
            f.close()
        aws.close()
