"""Builds the event the Lambda SQS event source delivers, from EventBridge events sent to a queue."""

from __future__ import annotations

import hashlib
import json
import time
import uuid

from .stack import ACCOUNT, REGION


def batch(events: list[dict], queue_name: str) -> dict:
    """`{"Records": [...]}` as Lambda receives it: each body is the EventBridge event as sent."""
    records = []
    for event in events:
        body = json.dumps(event)
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": uuid.uuid4().hex,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(int(time.time() * 1000)),
                    "SenderId": "AIDAEVENTBRIDGE",
                    "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}",
                "awsRegion": REGION,
            }
        )
    return {"Records": records}
