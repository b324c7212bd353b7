"""Document operations: moto's, plus the AWS-owned documents and real PlatformTypes."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult

from ..documents import ensure_aws_documents, platform_types
from .base import SimulatedOperations


class DocumentOperations(SimulatedOperations):
    def create_document(self) -> ActionResult:
        super().create_document()
        return ActionResult({"DocumentDescription": self._fixed_latest(self._get_param("Name"))})

    def update_document(self) -> ActionResult:
        super().update_document()
        return ActionResult({"DocumentDescription": self._fixed_latest(self._get_param("Name"))})

    def describe_document(self) -> ActionResult:
        ensure_aws_documents(self.ssm_backend)
        return super().describe_document()

    def get_document(self) -> ActionResult:
        ensure_aws_documents(self.ssm_backend)
        return super().get_document()

    def list_documents(self) -> ActionResult:
        ensure_aws_documents(self.ssm_backend)
        return super().list_documents()

    def _fixed_latest(self, name: str) -> dict[str, Any]:
        """moto reports PlatformTypes ["Not Implemented (moto)"]: derive them from the steps,
        then describe the newest version as Create/UpdateDocument answer."""
        documents = self.ssm_backend._documents[name]
        for document in documents.versions.values():
            document.platform_types = platform_types(document.content_json)
        tags = self.ssm_backend._get_documents_tags(name)
        return documents.describe(document_version=documents.latest_version, tags=tags)
