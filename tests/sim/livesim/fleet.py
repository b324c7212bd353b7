"""The fleet file: settings, the kernel catalogue and the instances (schema in README.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cmp_to_key
from typing import Any

from .catalog import CLASSIFICATIONS, SEVERITIES, Advisory, Catalog, Cve, Kernel, LivePatch, Package
from .host import AGENT_STATES, FAILURE_MODES, INSTANCE_STATES, KPATCH_SERVICE_STATES, Host, InstalledPackage
from .platform import platform_for
from .rpm import KernelRelease, Nevra, compare_evr
from .timeutil import add_months_clamped, parse_date, parse_time, uname_v

INSTANCE_ID = re.compile(r"^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$")
STATE_SPELLINGS = ("documentation", "api")
EVENT_SEVERITIES = ("compliance_level", "patch")
DEFAULT_FACTS_DOCUMENT = "LivePatchAutopilot-KernelFacts"
DEFAULT_AGENT_VERSION = "3.3.1142.0"


class FleetError(ValueError):
    """A fleet file that does not follow the schema; the message names the field."""


@dataclass
class Fleet:
    account: str
    region: str
    now: datetime
    facts_document: str
    state_spelling: str
    event_severity: str
    catalog: Catalog
    hosts: dict[str, Host]


class _Fields:
    """Typed access to one JSON object, with the path in every error and no unknown keys."""

    def __init__(self, data: Any, path: str, allowed: tuple[str, ...]):
        if not isinstance(data, dict):
            raise FleetError(f"{path}: expected an object")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise FleetError(f"{path}: unknown field(s) {', '.join(unknown)}")
        self.data = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def get(
        self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False
    ) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise FleetError(f"{self.at(key)}: required")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise FleetError(f"{self.at(key)}: expected {getattr(kind, '__name__', kind)}")
        return value

    def choice(
        self, key: str, choices: tuple[str, ...], default: str | None, required: bool = False
    ) -> str | None:
        value = self.get(key, str, default, required)
        if value is not None and value not in choices:
            raise FleetError(f"{self.at(key)}: {value!r} is not one of {', '.join(choices)}")
        return value

    def time(self, key: str, default: datetime | None = None, required: bool = False) -> datetime | None:
        text = self.get(key, str, required=required)
        if text is None:
            return default
        try:
            return parse_time(text)
        except ValueError as err:
            raise FleetError(f"{self.at(key)}: {err}") from None

    def parsed(self, key: str, parser: Any, required: bool = True) -> Any:
        text = self.get(key, str, required=required)
        if text is None:
            return None
        try:
            return parser(text)
        except ValueError as err:
            raise FleetError(f"{self.at(key)}: {err}") from None


def load_fleet(data: Any) -> Fleet:
    top = _Fields(
        data,
        "fleet",
        (
            "account",
            "region",
            "now",
            "kernel_facts_document",
            "state_spelling",
            "event_severity",
            "kernels",
            "instances",
            "description",
        ),
    )
    now = top.time("now", required=True)
    catalog = Catalog([_kernel(k, f"fleet.kernels[{i}]") for i, k in enumerate(top.get("kernels", list, []))])
    hosts: dict[str, Host] = {}
    for index, item in enumerate(top.get("instances", list, [])):
        host = _host(item, f"fleet.instances[{index}]", index, catalog, now)
        if host.id in hosts:
            raise FleetError(f"fleet.instances[{index}].id: duplicate {host.id}")
        hosts[host.id] = host
    return Fleet(
        account=top.get("account", str, "123456789012"),
        region=top.get("region", str, "us-east-1"),
        now=now,
        facts_document=top.get("kernel_facts_document", str, DEFAULT_FACTS_DOCUMENT),
        state_spelling=top.choice("state_spelling", STATE_SPELLINGS, "documentation"),
        event_severity=top.choice("event_severity", EVENT_SEVERITIES, "compliance_level"),
        catalog=catalog,
        hosts=hosts,
    )


def _cves(items: Any, path: str) -> tuple[Cve, ...]:
    if not isinstance(items, list):
        raise FleetError(f"{path}: expected a list")
    cves = []
    for index, item in enumerate(items):
        fields = _Fields(item, f"{path}[{index}]", ("id", "classification", "severity"))
        cves.append(
            Cve(
                fields.get("id", str, required=True),
                fields.choice("classification", CLASSIFICATIONS, "Security"),
                fields.choice("severity", SEVERITIES, None, required=True),
            )
        )
    return tuple(cves)


def _advisory(fields: _Fields) -> Advisory:
    cves = _cves(fields.get("cves", list, []), fields.at("cves"))
    return Advisory.of(
        cves,
        fields.choice("classification", CLASSIFICATIONS, "Bugfix"),
        fields.choice("severity", SEVERITIES, "Medium"),
    )


def _kernel(item: Any, path: str) -> Kernel:
    fields = _Fields(
        item,
        path,
        ("release", "built", "released", "uname_v", "livepatch_support_end", "fixes", "livepatches"),
    )
    release = fields.parsed("release", KernelRelease.parse)
    built = fields.time("built", required=True)
    released = fields.time("released")
    if released is not None and released < built:
        raise FleetError(f"{fields.at('released')}: a kernel cannot be released before it is built")
    flags = "SMP PREEMPT_DYNAMIC" if release.dist == "amzn2023" else "SMP"
    support_end = fields.parsed("livepatch_support_end", parse_date, required=False)
    livepatches = [
        _livepatch(lp, f"{path}.livepatches[{i}]", release)
        for i, lp in enumerate(fields.get("livepatches", list, []))
    ]
    return Kernel(
        release=release,
        built=built,
        uname_v=fields.get("uname_v", str, uname_v(built, flags)),
        support_end=support_end or add_months_clamped(built.date(), 3),
        fixes=Advisory.of(_cves(fields.get("fixes", list, []), fields.at("fixes"))),
        livepatches=tuple(
            sorted(livepatches, key=cmp_to_key(lambda a, b: compare_evr(a.package.evr, b.package.evr)))
        ),
        released=released,
    )


def _livepatch(item: Any, path: str, kernel: KernelRelease) -> LivePatch:
    fields = _Fields(item, path, ("package", "advisory", "released", "cves", "module"))
    package = fields.parsed("package", Nevra.parse)
    if package.name != kernel.livepatch_package_name or package.arch != kernel.arch:
        raise FleetError(
            f"{fields.at('package')}: a live patch for {kernel} is named "
            f"{kernel.livepatch_package_name}-<version>-<release>.{kernel.arch}"
        )
    cves = _cves(fields.get("cves", list, []), fields.at("cves"))
    default_module = "livepatch_" + cves[0].id.replace("-", "_") if cves else ""
    return LivePatch(
        package=package,
        advisory_id=fields.get("advisory", str, required=True),
        released=fields.time("released", required=True),
        advisory=Advisory.of(cves),
        module=fields.get("module", str, default_module),
    )


def _package(item: Any, path: str) -> tuple[Package, str, datetime | None]:
    fields = _Fields(
        item, path, ("package", "state", "classification", "severity", "cves", "released", "installed_at")
    )
    package = Package(fields.parsed("package", Nevra.parse), _advisory(fields), fields.time("released"))
    state = fields.choice("state", ("missing", "installed", "pending_reboot"), "missing")
    return package, state, fields.time("installed_at")


_INSTANCE_FIELDS = (
    "id",
    "name",
    "platform",
    "platform_version",
    "arch",
    "kernel",
    "booted",
    "ip_address",
    "agent_version",
    "managed",
    "state",
    "agent",
    "last_ping",
    "tags",
    "patch_group",
    "failure",
    "livepatch",
    "packages",
    "pending_kernel",
    "facts_collected",
)


def _host(item: Any, path: str, index: int, catalog: Catalog, now: datetime) -> Host:
    fields = _Fields(item, path, _INSTANCE_FIELDS)
    instance_id = fields.get("id", str, required=True)
    if not INSTANCE_ID.match(instance_id):
        raise FleetError(f"{fields.at('id')}: {instance_id!r} is not i- + 8 or 17 hex digits, or mi- + 17")
    try:
        platform = platform_for(
            fields.get("platform", str, required=True), fields.get("platform_version", str)
        )
    except ValueError as err:
        raise FleetError(f"{fields.at('platform')}: {err}") from None
    arch = fields.choice("arch", ("x86_64", "aarch64"), "x86_64")
    kernel = _catalog_kernel(catalog, fields, "kernel", required=True)
    if kernel.release.arch and kernel.release.arch != arch:
        raise FleetError(f"{fields.at('kernel')}: {kernel.release} does not run on {arch}")
    booted = fields.time("booted") or min(kernel.built + timedelta(days=3), now)
    tags = fields.get("tags", dict, {})
    if not all(isinstance(v, str) for v in tags.values()):
        raise FleetError(f"{fields.at('tags')}: tag values must be strings")
    missing, installed = _packages(fields, booted)
    agent = fields.choice("agent", AGENT_STATES, "Online")
    host = Host(
        id=instance_id,
        name=fields.get("name", str, instance_id),
        platform=platform,
        arch=arch,
        kernel=kernel,
        booted=booted,
        ip_address=fields.get("ip_address", str, f"10.0.{index // 200}.{10 + index % 200}"),
        agent_version=fields.get("agent_version", str, DEFAULT_AGENT_VERSION),
        tags=dict(tags),
        managed=fields.get("managed", bool, True),
        state=fields.choice("state", INSTANCE_STATES, "running"),
        agent=agent,
        last_ping=fields.time("last_ping", now - timedelta(days=1) if agent == "ConnectionLost" else None),
        patch_group=fields.get("patch_group", str, tags.get("Patch Group", tags.get("PatchGroup", ""))),
        failure=fields.choice("failure", FAILURE_MODES, None),
        livepatch_plugin=False,
        kpatch_service="disabled",
        livepatch=None,
        livepatch_installed_at=None,
        loaded_modules=set(),
        missing_packages=missing,
        installed_packages=installed,
        pending_kernel=_catalog_kernel(catalog, fields, "pending_kernel", required=False),
        registered=now - timedelta(days=90),
        iam_role="SSMServiceRole" if instance_id.startswith("mi-") else "",
    )
    host.pending_kernel_at = booted if host.pending_kernel else None
    host.facts_collected = fields.time("facts_collected")
    _apply_livepatch_state(host, fields)
    return host


def _packages(fields: _Fields, booted: datetime) -> tuple[list[Package], list[InstalledPackage]]:
    missing, installed = [], []
    for i, entry in enumerate(fields.get("packages", list, [])):
        package, state, installed_at = _package(entry, f"{fields.at('packages')}[{i}]")
        if state == "missing":
            missing.append(package)
        else:
            installed.append(InstalledPackage(package, installed_at or booted, state == "pending_reboot"))
    return missing, installed


def _apply_livepatch_state(host: Host, fields: _Fields) -> None:
    """The instance's `livepatch` object: plugin, kpatch.service, installed release, loaded modules."""
    livepatch = _Fields(
        fields.get("livepatch", dict, {}),
        fields.at("livepatch"),
        ("plugin", "kpatch_service", "installed", "loaded_modules"),
    )
    host.livepatch_plugin = livepatch.get("plugin", bool, False)
    host.kpatch_service = livepatch.choice("kpatch_service", KPATCH_SERVICE_STATES, "disabled")
    package = livepatch.get("installed", str)
    if package:
        host.livepatch = host.kernel.find_livepatch(package)
        if host.livepatch is None:
            kernel = host.kernel.release
            raise FleetError(f"{livepatch.at('installed')}: not a live patch of {kernel} in fleet.kernels")
        host.livepatch_installed_at = host.booted
    host.load_installed_modules()
    loaded = livepatch.get("loaded_modules", list)
    if loaded is not None:
        host.loaded_modules = set(loaded)


def _catalog_kernel(catalog: Catalog, fields: _Fields, key: str, required: bool) -> Kernel | None:
    release = fields.get(key, str, required=required)
    if release is None:
        return None
    if release not in catalog:
        raise FleetError(f"{fields.at(key)}: kernel {release!r} is not in fleet.kernels")
    return catalog.kernel(release)
