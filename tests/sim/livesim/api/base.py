"""What every simulated SSM operation shares: the simulation, visibility, parameters."""

from __future__ import annotations

from typing import Any

from moto.ssm.responses import SimpleSystemManagerResponse

from ..host import Host
from ..simulation import Simulation


class SimulatedOperations(SimpleSystemManagerResponse):
    """Base of the operation mixins; `simulation` is bound by `api.install`."""

    simulation: Simulation

    @property
    def sim(self) -> Simulation:
        return self.simulation

    @property
    def serves_fleet(self) -> bool:
        return self.sim.serves(self.current_account, self.region)

    def fleet_host(self, instance_id: str | None) -> Host | None:
        """The instance if the caller's account and region hold it."""
        if not instance_id or not self.serves_fleet:
            return None
        return self.sim.host(instance_id)

    def fleet_hosts(self) -> list[Host]:
        """The instances SSM shows the caller: managed and running, in the fleet's account and region."""
        return [h for h in self.sim.hosts if h.visible_to_ssm] if self.serves_fleet else []

    def param(self, name: str, default: Any = None) -> Any:
        value = self._get_param(name)
        return default if value is None else value
