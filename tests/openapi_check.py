"""Every response the suite sees, checked against harbor_emulator/openapi.yaml.

`ResponseChecker.event_hooks` goes on the test clients (tests/conftest.py), so a response
whose status, body or headers the document does not allow fails the test that received it,
naming the operation and the first violation. That keeps the document and the server from
drifting apart without a test of its own per route.

Schemas are validated with `jsonschema` (Draft 2020-12, the dialect of OpenAPI 3.1), with
the whole document registered as one resource so its `$ref`s resolve as written. An error
response's `x-error-codes` lists the only codes it may carry.

Routes no document path matches are checked under `/v1` and `/_control`, where only the
routing errors (404 `not_found`, 405 `method_not_allowed`) may answer. `/_sink/…` receivers
answer whatever a test scripted, so only their `Harbor-Request-Id` is checked. The dashboard
and `/openapi.json` are not part of the documented API and are not checked.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import referencing
import referencing.jsonschema
import yaml

from harbor_emulator.api.openapi import document
from harbor_emulator.core.errors import STATUS_BY_CODE

DOCUMENT_URI = "urn:harbor-emulator:openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CHECKED_PREFIXES = ("/v1", "/_control")
YAML_MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


class OpenAPIDrift(AssertionError):
    """A response the document does not allow."""


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    template: str
    pointer: str  # JSON pointer of the operation object in the document
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _PathEntry:
    template: str
    pattern: re.Pattern[str]
    operations: dict[str, Operation]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class OpenAPIDocument:
    """The document, compiled for matching requests and validating responses."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = referencing.jsonschema.DRAFT202012.create_resource(spec)
        self._registry: referencing.Registry[Any] = referencing.Registry().with_resource(
            DOCUMENT_URI, resource
        )
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        self.paths: list[_PathEntry] = []
        for template, item in spec["paths"].items():
            # Starlette's `{id}` matches one path segment; so does this.
            regex = "".join(
                "[^/]+" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]+\})", template)
            )
            operations = {
                method: Operation(method, template, f"/paths/{_escape(template)}/{method}", op)
                for method, op in item.items()
                if method in METHODS
            }
            self.paths.append(_PathEntry(template, re.compile(regex + r"\Z"), operations))
        # Literal segments beat templated ones (`/v1/events/replay` over `/v1/events/{id}`).
        self.paths.sort(key=lambda entry: entry.template.count("{"))

    def match(self, path: str) -> _PathEntry | None:
        for entry in self.paths:
            if entry.pattern.match(path):
                return entry
        return None

    def resolve(self, pointer: str) -> tuple[str, Any]:
        """Follow local `$ref`s from `pointer`; returns the final pointer and its value."""
        node: Any = self.spec
        for token in pointer.lstrip("/").split("/") if pointer != "/" else []:
            node = node[token.replace("~1", "/").replace("~0", "~")]
        while isinstance(node, dict) and set(node) == {"$ref"}:
            pointer = node["$ref"].removeprefix("#")
            return self.resolve(pointer)
        return pointer, node

    def validator(self, pointer: str) -> jsonschema.Draft202012Validator:
        found = self._validators.get(pointer)
        if found is None:
            found = jsonschema.Draft202012Validator(
                {"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=self._registry
            )
            self._validators[pointer] = found
        return found

    def errors(self, pointer: str, instance: Any) -> list[str]:
        found = sorted(self.validator(pointer).iter_errors(instance), key=lambda e: e.path)
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in found]


@functools.cache
def compiled() -> OpenAPIDocument:
    return OpenAPIDocument(document())


class ResponseChecker:
    """Checks the responses of one emulator's clients; knows when API faults are armed.

    An injected API fault (`POST /_control/faults`) answers any error on any route by
    design, so while faults may be armed an error the operation does not list is only
    checked for the error object's shape and its code's status.
    """

    def __init__(self) -> None:
        self.document = compiled()
        self.faults_armed = False
        self.checked = 0

    @property
    def event_hooks(self) -> dict[str, list[Any]]:
        return {"response": [self.check]}

    def check(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        method, path = request.method.lower(), request.url.path
        self._track_faults(method, path, response.status_code)
        if path.startswith("/_sink/"):
            if not self.document.errors(
                "/components/headers/HarborRequestId/schema",
                response.headers.get("harbor-request-id"),
            ):
                return
            raise OpenAPIDrift(f"{request.method} {path}: header Harbor-Request-Id is required")
        entry = self.document.match(path)
        if entry is None:
            if any(path == p or path.startswith(f"{p}/") for p in CHECKED_PREFIXES):
                self._check_routing_error(response, ("not_found", "method_not_allowed"))
            return
        operation = entry.operations.get(method)
        if operation is None:
            if method != "head":
                self._check_routing_error(response, ("method_not_allowed",))
            return
        self.checked += 1
        problems = self._problems(operation, response)
        if problems:
            raise OpenAPIDrift(
                f"{request.method} {path} -> {response.status_code} does not match "
                f"openapi.yaml ({operation.spec.get('operationId')}):\n  "
                + "\n  ".join(problems[:5])
                + f"\n  body: {response.text[:500]}"
            )

    def _track_faults(self, method: str, path: str, status: int) -> None:
        if method == "post" and path == "/_control/faults" and status == 201:
            self.faults_armed = True
        elif status in (200, 204) and (
            (method == "post" and path == "/_control/reset")
            or (method == "delete" and path == "/_control/faults")
        ):
            self.faults_armed = False

    def _problems(self, operation: Operation, response: httpx.Response) -> list[str]:
        status = str(response.status_code)
        responses = operation.spec["responses"]
        key = next(
            (k for k in (status, f"{status[0]}XX", "default") if k in responses),
            None,
        )
        if key is None:
            if self.faults_armed and self._is_harbor_error(response):
                return self._generic_error_problems(response)
            return [f"status {status} is not documented (documented: {', '.join(responses)})"]
        pointer, spec = self.document.resolve(f"{operation.pointer}/responses/{key}")
        problems = self._header_problems(pointer, spec, response)
        content = spec.get("content")
        if not content:
            if response.content:
                problems.append(f"expected no body, got {len(response.content)} bytes")
            return problems
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type not in content:
            return [*problems, f"content-type {media_type!r} is not one of {list(content)}"]
        try:
            if media_type in YAML_MEDIA_TYPES:
                body = yaml.safe_load(response.content)
            else:
                body = json.loads(response.content)
        except (ValueError, yaml.YAMLError):
            return [*problems, f"body is not {media_type}"]
        schema_pointer = f"{pointer}/content/{_escape(media_type)}/schema"
        errors = self.document.errors(schema_pointer, body)
        codes = spec.get("x-error-codes")
        if codes is not None and not errors and body["error"]["code"] not in codes:
            errors.append(f"error code {body['error']['code']} is not one of {codes}")
        if errors and self.faults_armed and self._is_harbor_error(response):
            return self._generic_error_problems(response)
        return problems + errors

    def _header_problems(
        self, pointer: str, spec: dict[str, Any], response: httpx.Response
    ) -> list[str]:
        problems = []
        for name in spec.get("headers", {}):
            header_pointer, header = self.document.resolve(f"{pointer}/headers/{_escape(name)}")
            value = response.headers.get(name)
            if value is None:
                if header.get("required"):
                    problems.append(f"header {name} is required")
                continue
            problems += [
                f"header {name}: {error}"
                for error in self.document.errors(f"{header_pointer}/schema", value)
            ]
        return problems

    def _is_harbor_error(self, response: httpx.Response) -> bool:
        try:
            return "error" in response.json()
        except ValueError:
            return False

    def _generic_error_problems(self, response: httpx.Response) -> list[str]:
        problems = self.document.errors("/components/schemas/Error", response.json())
        code = response.json().get("error", {}).get("code")
        if not problems and STATUS_BY_CODE.get(code) != response.status_code:
            problems.append(f"code {code} answered with {response.status_code}")
        if "harbor-request-id" not in response.headers:
            problems.append("header Harbor-Request-Id is required")
        return problems

    def _check_routing_error(self, response: httpx.Response, codes: tuple[str, ...]) -> None:
        if self.faults_armed:
            return
        problems = self._generic_error_problems(response) if self._is_harbor_error(response) else []
        code = response.json().get("error", {}).get("code") if not problems else None
        if not problems and code not in codes:
            problems.append(f"an undocumented route answered {code}, not one of {codes}")
        if code == "method_not_allowed" and not response.headers.get("allow"):
            problems.append("a 405 must name the allowed methods in Allow (RFC 9110)")
        if problems or not self._is_harbor_error(response):
            raise OpenAPIDrift(
                f"{response.request.method} {response.request.url.path} is not in openapi.yaml "
                f"and answered {response.status_code}: {'; '.join(problems) or response.text[:200]}"
            )
