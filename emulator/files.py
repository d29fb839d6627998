"""Uploaded files: content kept in memory, validated once at upload, status revealed on the clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.datacheck import DatasetReport, inspect

PURPOSES = {
    "fine-tune",
    "fine-tune-results",
    "assistants",
    "assistants_output",
    "batch",
    "batch_output",
    "evals",
    "evals_output",
}


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: float
    processed_at: float  # before this simulated time the file shows `pending`
    report: DatasetReport | None  # None: not training data (results, other purposes)
    failure: str | None = None  # set when an import could not fetch the content

    def status(self, now: float) -> str:
        if self.failure is not None:
            return "error"
        if now < self.processed_at:
            return "pending"
        if self.report is not None and not self.report.ok:
            return "error"
        return "processed"

    def status_details(self, now: float) -> str | None:
        if self.status(now) != "error":
            return None
        if self.failure is not None:
            return self.failure
        return self.report.detail if self.report is not None else None

    def as_json(self, now: float) -> dict[str, Any]:
        body = {
            "object": "file",
            "id": self.id,
            "bytes": len(self.content),
            "created_at": int(self.created_at),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status(now),
            "status_details": self.status_details(now),
        }
        return {k: v for k, v in body.items() if v is not None}


def new_file(
    file_id: str,
    filename: str,
    purpose: str,
    content: bytes,
    *,
    now: float,
    processing_seconds: float,
    min_examples: int,
    failure: str | None = None,
) -> StoredFile:
    report = inspect(content, min_examples) if purpose == "fine-tune" and failure is None else None
    delay = processing_seconds if purpose == "fine-tune" else 0.0
    return StoredFile(file_id, filename, purpose, content, now, now + delay, report, failure)
