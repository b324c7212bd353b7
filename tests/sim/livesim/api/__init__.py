"""The AWS side of livesim: moto's SSM, SNS and tagging API with the simulated operations plugged in."""

from __future__ import annotations

from typing import Any

import moto.resourcegroupstaggingapi.urls
import moto.sns.urls
import moto.ssm.urls
from moto.resourcegroupstaggingapi.responses import ResourceGroupsTaggingAPIResponse
from moto.sns.responses import SNSResponse
from moto.ssm.models import SimpleSystemManagerBackend
from moto.ssm.responses import SimpleSystemManagerResponse

from ..baselines import register_for_patch_group
from ..simulation import Simulation
from .documents import DocumentOperations
from .instances import InstanceOperations
from .inventory import InventoryOperations
from .maintenance_windows import MaintenanceWindowOperations
from .patch_states import PatchStateOperations
from .run_command import RunCommandOperations
from .sns import RecordingSnsResponse
from .tagging import FleetTaggingResponse
from .window_executions import WindowExecutionOperations


class SimulatedSsmResponse(
    InstanceOperations,
    RunCommandOperations,
    PatchStateOperations,
    InventoryOperations,
    DocumentOperations,
    MaintenanceWindowOperations,
    WindowExecutionOperations,
):
    """moto's SSM responses with the fleet's operations; one method per operation.

    Tag operations chain: each mixin handles its ResourceType and passes the rest on (super())."""


def install(simulation: Simulation) -> None:
    """Route moto's SSM, SNS and tagging URLs to the simulated responses. Call before the app starts."""
    SimulatedSsmResponse.simulation = simulation
    RecordingSnsResponse.simulation = simulation
    FleetTaggingResponse.simulation = simulation
    moto.ssm.urls.url_paths = _replace(
        moto.ssm.urls.url_paths, SimpleSystemManagerResponse, SimulatedSsmResponse
    )
    moto.sns.urls.url_paths = _replace(moto.sns.urls.url_paths, SNSResponse, RecordingSnsResponse)
    moto.resourcegroupstaggingapi.urls.url_paths = _replace(
        moto.resourcegroupstaggingapi.urls.url_paths, ResourceGroupsTaggingAPIResponse, FleetTaggingResponse
    )
    SimpleSystemManagerBackend.register_patch_baseline_for_patch_group = register_for_patch_group


def _replace(url_paths: dict[str, Any], original: type, replacement: type) -> dict[str, Any]:
    return {
        path: replacement.dispatch if handler == original.dispatch else handler
        for path, handler in url_paths.items()
    }
