"""What the client returns besides JSON: clock readings, sink requests, receiver-check reports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class ClockReading:
    now: datetime
    frozen: bool
    offset_seconds: float

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ClockReading:
        return cls(parse_time(body["now"]), bool(body["frozen"]), float(body["offset_seconds"]))


@dataclass(frozen=True, slots=True)
class SinkRequest:
    """One request a built-in sink received; `headers` has lower-case names."""

    method: str
    path: str
    headers: dict[str, str]
    body: str
    received_at: datetime
    truncated: bool

    def json(self) -> Any:
        return json.loads(self.body)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> SinkRequest:
        return cls(
            method=body["method"],
            path=body["path"],
            headers=dict(body["headers"]),
            body=body["body"],
            received_at=parse_time(body["received_at"]),
            truncated=bool(body.get("truncated", False)),
        )


@dataclass(frozen=True, slots=True)
class ReceiverCheckResult:
    """One check of a receiver check: `result` is "pass", "fail" (a must) or "warn" (a
    should); `sent` and `received` say what went out and what came back."""

    name: str
    required: bool
    result: str
    status: int | None
    ms: int
    hint: str
    expected: str
    sent: dict[str, Any] | None
    received: dict[str, Any]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ReceiverCheckResult:
        return cls(**{f.name: body[f.name] for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class ReceiverCheckReport:
    """`POST /_control/receiver-checks`'s report; `str(report)` is the terminal table."""

    url: str
    passed: bool
    reachable: bool
    event_type: str
    # Out of the repr, which stays one line; str() is the table.
    checks: list[ReceiverCheckResult] = field(repr=False)
    json: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ReceiverCheckReport:
        checks = [ReceiverCheckResult.from_json(check) for check in body["checks"]]
        names = ("url", "passed", "reachable", "event_type")
        return cls(**{name: body[name] for name in names}, checks=checks, json=dict(body))

    def check(self, name: str) -> ReceiverCheckResult:
        return next(check for check in self.checks if check.name == name)

    @property
    def failed(self) -> list[ReceiverCheckResult]:
        return [check for check in self.checks if check.result == "fail"]

    @property
    def warned(self) -> list[ReceiverCheckResult]:
        return [check for check in self.checks if check.result == "warn"]

    def __str__(self) -> str:
        if not self.reachable:
            verdict = "UNREACHABLE"
        else:
            verdict = "PASSED" if self.passed else f"FAILED ({len(self.failed)} must failed)"
        if self.warned:
            verdict += f", {len(self.warned)} warning" + ("s" if len(self.warned) > 1 else "")
        rows = [("CHECK", "NEED", "RESULT", "STATUS", "MS", "HINT")]
        for c in self.checks:
            status = "-" if c.status is None else str(c.status)
            need = "must" if c.required else "should"
            rows.append((c.name, need, c.result, status, str(c.ms), c.hint))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = [f"receiver check of {self.url}: {verdict}"]
        lines += [
            "  ".join([*(v.ljust(w) for v, w in zip(r[:5], widths, strict=True)), r[5]])
            for r in rows
        ]
        unsent = [c.name for c in self.checks if c.received.get("error") == "not_sent"]
        for c in self.failed + self.warned:
            if c.name in unsent:
                continue
            if c.sent is None:  # fast: a verdict on the others' times
                lines.append(f"{c.name}: {c.received.get('detail')}")
                continue
            got = c.received.get("error") or c.status
            lines.append(f"{c.name}: sent {c.sent['summary']}; expected {c.expected}, got {got}")
            if c.received.get("detail"):
                lines.append(f"  {c.received['detail']}")
        if unsent:
            lines.append(f"not sent, as the valid delivery got no answer: {', '.join(unsent)}")
        return "\n".join(lines)
