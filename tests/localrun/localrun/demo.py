"""The demo: a simulated fleet, the scheduled scan delivered to the real `scan` binary, then what the
instances answered, what people were told, and the fleet afterwards."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from . import router, sqs
from .runtime_api import LambdaFunction
from .stack import ROOT, LocalAws, calls_not_allowed, deploy
from .template import Template


def heading(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 96 - len(text)))


def fleet_table(fleet: dict) -> str:
    columns = ["instance", "name", "platform", "kernel", "live patching", "support ends", "patch state"]
    rows = []
    for i in fleet["instances"]:
        reach = ""
        if not i.get("managed", True):
            reach = " (unmanaged)"
        elif i.get("state") != "running":
            reach = f" ({i.get('state')})"
        elif i.get("agent") != "Online":
            reach = f" ({i.get('agent')})"
        lp = i.get("livepatch", {})
        livepatch = "on" if lp.get("plugin") else "off"
        if lp.get("plugin"):
            loaded, installed = len(lp.get("loaded_modules", [])), len(lp.get("installed_modules", []))
            livepatch += f", {loaded}/{installed} loaded"
            if lp.get("kpatch_service") != "enabled":
                livepatch += f", kpatch.service {lp.get('kpatch_service')}"
        support = i.get("support_end") or "-"
        if i.get("support_ended"):
            support += " (ended)"
        compliance = i.get("patch_compliance", {})
        status = compliance.get("status", "not_scanned")
        counts = {k: v for k, v in compliance.items() if k.endswith("count") and v}
        if counts.get("missing_count"):
            status += f", {counts['missing_count']} missing"
        if counts.get("installed_pending_reboot_count"):
            status += f", {counts['installed_pending_reboot_count']} pending reboot"
        if i.get("failure"):
            status += f" [fails: {i['failure']}]"
        platform = i.get("platform", "")
        if platform not in ("AL2", "AL2023"):
            platform += f" {i.get('platform_version', '')}"
        rows.append(
            [i["id"] + reach, i.get("name", ""), platform, i.get("kernel", ""), livepatch, support, status]
        )
    widths = [max(len(str(r[c])) for r in rows + [columns]) for c in range(len(columns))]

    def line(r):
        return "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in rows])


def print_notification(note: dict) -> None:
    print(f"\n--- SNS publish to {note['topic_arn']} at {note['time']}")
    print(f"Subject: {note['subject']}")
    message, structure = note["message"], note.get("message_structure")
    if structure == "json":
        body = json.loads(message)
        print("\n[email]\n" + textwrap.indent(body.get("email", body["default"]), "  "))
        if "https" in body:
            print("[chat card]\n" + textwrap.indent(json.dumps(json.loads(body["https"]), indent=2), "  "))
    else:
        print(textwrap.indent(message, "  "))


class Demo:
    """One local deployment: the simulated fleet, the template's resources, warm function processes."""

    def __init__(self, bin_dir: Path, fleet: Path):
        self.template = Template.load(ROOT / "template.yaml")
        self.bin_dir = bin_dir
        self.aws = LocalAws(fleet, log_path=ROOT / "target" / "livesim.log")
        self.deployment = deploy(self.aws.client, self.template)
        self.functions: dict[str, LambdaFunction] = {}
        self.events_seen = 0
        self.notifications_seen = 0

    def function(self, binary: str) -> LambdaFunction:
        if binary not in self.functions:
            env = {
                **self.deployment.environments[binary],
                **self.aws.sdk_env(binary),
                "AWS_LAMBDA_LOG_FORMAT": "Text",
            }
            self.functions[binary] = LambdaFunction(
                binary, str(self.bin_dir / binary), env, log_path=str(ROOT / "target" / f"{binary}.log")
            )
        return self.functions[binary]

    def invoke(self, binary: str, event: dict) -> dict | None:
        result = self.function(binary).invoke(event)
        if not result.ok:
            print(f"  {binary}: FAILED {result.error_message}")
            return None
        print(f"  {binary} returned:")
        print(textwrap.indent(json.dumps(compact(result.payload), indent=2), "    "))
        return result.payload

    def agents(self) -> None:
        for item in self.aws.control("POST", "agents/run", {})["ran"]:
            details = item.get("status_details") or ""
            print(f"  {item['instance_id']:<22} {item['document_name']:<32} {item['status']:<9} {details}")

    def route_events(self) -> None:
        """Delivers new events as the template wires them: rules → queues → functions, in batches."""
        entries = self.aws.control("GET", f"events?after={self.events_seen}")["events"]
        if entries:
            self.events_seen = entries[-1]["seq"]
        queued: dict[tuple[str, str], list[dict]] = {}
        unrouted: dict[str, Counter] = {}
        for entry in entries:
            event = entry["event"]
            detail = event["detail"]
            status = detail.get("compliance-status") or detail.get("status")
            routes = router.routes(self.template, event, self.deployment.refs)
            if not routes:
                unrouted.setdefault(event["detail-type"], Counter())[status] += 1
                continue
            subject = (
                detail.get("resource-id")
                or detail.get("instance-id")
                or detail.get("command-id")
                or detail.get("window-id")
            )
            where = ", ".join(f"{r.queue} -> {r.binary}" if r.queue else r.binary for r in routes)
            print(f"  {event['detail-type']}: {subject} {status} -> {where}")
            for route in routes:
                queued.setdefault((route.binary, route.queue), []).append(event)
        for detail_type, statuses in unrouted.items():
            counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
            print(f"  {detail_type}: {counts} -> no function subscribes (yet)")
        for (binary, queue), events in queued.items():
            if queue is None:
                for event in events:
                    self.invoke(binary, event)
                continue
            size = router.queue_batch_size(self.template, binary, queue)
            for start in range(0, len(events), size):
                chunk = events[start : start + size]
                heading(f"SQS {queue} delivers {len(chunk)} records to {binary}")
                self.invoke(binary, sqs.batch(chunk, queue))

    def notifications(self) -> None:
        entries = self.aws.control("GET", f"notifications?after={self.notifications_seen}")["notifications"]
        if entries:
            self.notifications_seen = entries[-1]["seq"]
        for entry in entries:
            print_notification(entry["notification"])

    def close(self) -> None:
        for function in self.functions.values():
            function.close()
        self.aws.close()


def compact(value):
    """Long lists of ids shown as a count and the first few, so a function's result stays readable."""
    if isinstance(value, list) and len(value) > 3 and all(isinstance(v, str) for v in value):
        return f"{len(value)}: {', '.join(value[:3])}, ..."
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    return value


def scheduled(event: dict, time: str, suffix: str) -> dict:
    """Another firing of the same schedule rule: a new event id and time."""
    return {**event, "id": event["id"][: -len(suffix)] + suffix, "time": time}


def book_and_run_reboots(demo: Demo, scan_event: dict, now: str) -> str | None:
    """plan-reboots books the instances near or past their live patch support end into the reboot
    window; the clock moves past the window, which reboots them; a scan collects their new kernels.
    Returns when the first booked window started (None when nothing was booked)."""
    plan_event = json.loads((ROOT / "events" / "scheduled-plan-reboots.json").read_text())
    heading(f"{now} plan-reboots (hourly): reboots booked before live patch support ends")
    demo.invoke("plan-reboots", scheduled(plan_event, now, "0004"))
    demo.notifications()
    windows = [
        w
        for w in demo.aws.control("GET", "windows")["windows"]
        if w["name"].startswith("livepatch-autopilot-reboot-")
    ]
    for w in windows:
        targets = [v for t in w["targets"] for v in t.get("Targets", [{}])[0].get("Values", [])]
        when = f"{w['schedule']}, next {w['next_execution_time']}"
        print(f"  {w['window_id']} {w['name']}: {when}, targets {targets}")
    starts = sorted(w["next_execution_time"] for w in windows if w.get("next_execution_time"))
    if not starts:
        return None
    last = datetime.fromisoformat(starts[-1].replace("Z", "+00:00"))
    after = (last + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    heading(f"The simulated clock moves to {after}: each window runs at its time (Install, RebootIfNeeded)")
    moved = demo.aws.control("POST", "clock/advance", {"to": after})
    for started in moved["windows_started"]:
        print(f"  {started['name']} started {started['start_time']}: {started['status']}")
    demo.route_events()
    demo.notifications()
    heading(f"{after} the next scan collects the new kernels")
    demo.invoke("scan", scheduled(scan_event, after, "0005"))
    demo.agents()
    demo.route_events()
    demo.agents()
    demo.route_events()
    demo.notifications()
    enable_at = (last + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    demo.aws.control("POST", "clock", {"now": enable_at})
    heading(f"{enable_at} the enable schedule fires: on a newer kernel now, enabled without another reboot")
    enable_event = json.loads((ROOT / "events" / "scheduled-enable.json").read_text())
    demo.invoke("enable", scheduled(enable_event, enable_at, "0006"))
    demo.agents()
    demo.route_events()
    demo.notifications()
    return starts[0]


def story_problems(before: dict, after: dict, reboots_at: str | None) -> list[str]:
    """What the demo promises and did not happen: live patching turned on somewhere, and every
    instance whose support had ended rebooted into a supported kernel."""
    was = {i["id"]: i for i in before["instances"]}
    problems = []
    turned_on = [
        i["id"]
        for i in after["instances"]
        if i.get("livepatch", {}).get("plugin") and not was[i["id"]].get("livepatch", {}).get("plugin")
    ]
    print(f"Live patching turned on: {', '.join(turned_on) or 'none'}")
    if not turned_on:
        problems.append("no instance went from live patching off to on")
    ended = [i["id"] for i in before["instances"] if i.get("support_ended") and i.get("state") == "running"]
    rebooted = [i for i in ended if after_view(after, i).get("kernel") != was[i].get("kernel")]
    print(f"Out of support at the start: {', '.join(ended) or 'none'}")
    print(f"Rebooted into a newer kernel since: {', '.join(rebooted) or 'none'}")
    if reboots_at is None and ended:
        problems.append("plan-reboots booked no window for the instances out of support")
    problems += [f"{i} still runs its unsupported kernel" for i in ended if i not in rebooted]
    return problems


def after_view(fleet: dict, instance_id: str) -> dict:
    return next(i for i in fleet["instances"] if i["id"] == instance_id)


def run(bin_dir: Path, fleet: Path, event_file: Path) -> int:
    event = json.loads(event_file.read_text())
    demo = Demo(bin_dir, fleet)
    try:
        demo.aws.control("POST", "clock", {"now": event["time"]})
        before = demo.aws.control("GET", "fleet")
        heading(f"Simulated fleet: {len(before['instances'])} instances, clock {event['time']}")
        print(fleet_table(before))

        heading(
            f"{event['time']} the schedule fires: {event_file.relative_to(ROOT)} -> scan "
            "(through the Lambda Runtime API)"
        )
        demo.invoke("scan", event)
        heading("Simulated agents answer Run Command")
        demo.agents()
        heading("Events the services emitted, routed as template.yaml wires them")
        demo.route_events()
        heading("Simulated agents answer the installs")
        demo.agents()
        demo.route_events()
        heading("Notifications so far (one SNS publish each: email text and chat card)")
        demo.notifications()

        later = datetime.fromisoformat(event["time"].replace("Z", "+00:00")) + timedelta(hours=1)
        later_time = later.strftime("%Y-%m-%dT%H:%M:%SZ")
        demo.aws.control("POST", "clock", {"now": later_time})
        enable_event = json.loads((ROOT / "events" / "scheduled-enable.json").read_text())
        heading(
            f"{later_time} the enable schedule fires: events/scheduled-enable.json -> enable "
            "(live patching off -> on where the kernel facts allow it without a reboot)"
        )
        demo.invoke("enable", scheduled(enable_event, later_time, "0002"))
        demo.agents()
        demo.route_events()
        demo.notifications()

        heading(f"{later_time} the next scan sees the live patches in effect")
        demo.invoke("scan", scheduled(event, later_time, "0002"))
        demo.agents()
        demo.route_events()
        heading("Simulated agents answer the installs (api-2's first live patch, now that it is on)")
        demo.agents()
        demo.route_events()
        demo.notifications()

        digest_time = (later + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        demo.aws.control("POST", "clock", {"now": digest_time})
        heading(f"{digest_time} the daily digest: the fleet in counts, worst cases first")
        demo.invoke("report", scheduled(event, digest_time, "0003"))
        demo.notifications()

        reboots_at = book_and_run_reboots(demo, event, digest_time)

        heading("Fleet after the run")
        after = demo.aws.control("GET", "fleet")
        print(fleet_table(after))
        problems = story_problems(before, after, reboots_at)

        heading("Least privilege: every AWS call each function made, against its policies in template.yaml")
        calls = demo.aws.control("GET", "calls")["calls"]
        refused = calls_not_allowed(calls, demo.deployment.allowed_actions)
        made = sorted(
            {
                f"{c['access_key'].removeprefix('fn-')}: {c['action']}"
                for c in calls
                if c["access_key"] != "test"
            }
        )
        print(f"{len(made)} distinct (function, action) pairs; {len(refused)} not allowed")
        for line in refused:
            print(f"  NOT ALLOWED: {line}")
        for problem in problems:
            print(f"  DEMO STORY BROKEN: {problem}")
        return 1 if refused or problems else 0
    finally:
        demo.close()
