"""SNS Publish/PublishBatch as moto does them, recorded for tests and demos."""

from __future__ import annotations

import copy
import json
from typing import Any

from moto.core.responses import ActionResult
from moto.sns.responses import SNSResponse

from ..simulation import Simulation
from ..timeutil import iso_seconds


class RecordingSnsResponse(SNSResponse):
    """`simulation` is bound by `api.install`."""

    simulation: Simulation

    def publish(self) -> ActionResult:
        raw_attributes = copy.deepcopy(self._get_param("MessageAttributes", {}))
        result = super().publish()
        self._record(
            {
                "topic_arn": self._get_param("TopicArn"),
                "target_arn": self._get_param("TargetArn"),
                "phone_number": self._get_param("PhoneNumber"),
                "message_id": result.result["MessageId"],  # type: ignore[index]
                "subject": self._get_param("Subject"),
                "message": self._get_param("Message"),
                "message_structure": self._get_param("MessageStructure"),
                "message_attributes": raw_attributes,
                "message_group_id": self._get_param("MessageGroupId"),
            }
        )
        return result

    def publish_batch(self) -> ActionResult:
        entries = copy.deepcopy(self._get_param("PublishBatchRequestEntries", []))
        result = super().publish_batch()
        succeeded = {s["Id"]: s["MessageId"] for s in result.result["Successful"]}  # type: ignore[index]
        for entry in entries:
            if entry.get("Id") in succeeded:
                self._record(
                    {
                        "topic_arn": self._get_param("TopicArn"),
                        "target_arn": None,
                        "phone_number": None,
                        "message_id": succeeded[entry["Id"]],
                        "subject": entry.get("Subject"),
                        "message": entry.get("Message"),
                        "message_structure": entry.get("MessageStructure"),
                        "message_attributes": entry.get("MessageAttributes", {}),
                        "message_group_id": entry.get("MessageGroupId"),
                    }
                )
        return result

    def _record(self, notification: dict[str, Any]) -> None:
        sim = self.simulation
        with sim.lock:
            notification["time"] = iso_seconds(sim.now)
            notification["region"] = self.region
            if notification["message_structure"] == "json":
                notification["message_by_protocol"] = json.loads(notification["message"])
            sim.notifications.append(notification)
