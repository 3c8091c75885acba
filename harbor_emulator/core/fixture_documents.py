"""Reading a fixtures document: parse, refuse what JSON can't hold, interpolate `${NAME}`.

Interpolation (contract, Fixtures): a string value may use `${NAME}` and `${NAME:-default}`
from the environment of the process that reads the document; `${HARBOR_EMULATOR_URL}` is
always the emulator's own base URL. Decisions beyond the contract:

- Only string *values* are interpolated, after parsing, so a value can't inject YAML
  structure (`url: ${X}` with `X="a\\nevil: 1"` is that text, not a new field); mapping
  keys are never interpolated. A value is still a string afterwards: `${N}` can't make a
  number.
- `${NAME:-default}` uses `default` when NAME is unset *or empty*, as in the shell. The
  default is literal text up to the first `}` (no nesting).
- `$${` is a literal `${` (as `$$` is in Docker Compose). Any other `$` is kept as it is,
  so `$5` or a lone `$` need no escaping.
- NAME is `[A-Za-z_][A-Za-z0-9_]*`. An undefined name without a default, and a malformed
  `${…}`, are `invalid_fixtures` naming the entry, the field and the name.

Importable without the server: the CLI calls `interpolate` with its own environment and the
URL it talks to, then `escape` before sending the result to `POST /_control/fixtures`, which
interpolates again (a no-op on an escaped document).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .errors import HarborError
from .fixture_parsing import UnreadableDocument, load_json, load_yaml, released_on_error

URL_VARIABLE = "HARBOR_EMULATOR_URL"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")

Document = dict[str, Any]


def fixture_error(source: str, path: str, problem: str, entry_id: str | None = None) -> HarborError:
    """invalid_fixtures naming the source, the entry (index and id) and the field."""
    entry = path.split(".")[0] if path else "document"
    named = f"{entry} ({entry_id})" if entry_id else entry
    field_name = path[len(entry) + 1 :] if "." in path else ""
    where = f"{named}: {field_name}: " if field_name else f"{named}: "
    return HarborError("invalid_fixtures", f"{source}: {where}{problem}", param=path or None)


def field_path(parts: Iterator[Any] | list[Any]) -> str:
    """`["destinations", 2, "url"]` -> `destinations[2].url`."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def entry_id_at(document: Document, parts: list[Any]) -> str | None:
    """The `id` (or `key`) of the entry a path points into, to name it in errors."""
    if len(parts) >= 2 and isinstance(parts[1], int):
        try:
            entry = document[parts[0]][parts[1]]
        except (KeyError, IndexError, TypeError):
            return None
        if isinstance(entry, dict):
            found = entry.get("id") or entry.get("key")
            return found if isinstance(found, str) else None
    return None


def parse_document(raw: bytes | str, *, source: str, yaml_syntax: bool) -> Document:
    """Bytes to a fixtures mapping; YAML errors carry their line and column.

    Bounded (`fixture_parsing`): aliases that recurse or expand too far are refused before
    anything is built. Still CPU for seconds on several MB, so the server calls it on a
    worker thread.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise fixture_error(source, "", "the document is not UTF-8 text.") from None
    try:
        document = load_yaml(text) if yaml_syntax else load_json(text)
    except UnreadableDocument as exc:
        raise fixture_error(source, "", str(exc)) from None
    if document is None and yaml_syntax:  # an empty YAML document; JSON null is no mapping
        return {}
    with released_on_error(document):
        if not isinstance(document, dict):
            raise fixture_error(source, "", "the document must be a mapping of sections.")
        check_numbers(document, source)
    return document


def check_numbers(document: Document, source: str) -> None:
    """Refuse non-finite numbers (YAML `.inf`/`.nan`, JSON `1e400`/`NaN`) as `invalid_json`:
    nothing that can't be written back as JSON is ever stored (contract, Numbers)."""
    for parts, value in _leaves(document, []):
        if isinstance(value, float) and not math.isfinite(value):
            path = field_path(parts)
            raise HarborError(
                "invalid_json",
                f"{source}: {path}: {value} is not a finite number, which JSON cannot hold.",
                param=path,
            )


def _leaves(value: Any, parts: list[Any]) -> Iterator[tuple[list[Any], Any]]:
    # Iterative: a deeply nested payload must not hit the recursion limit here.
    stack: list[tuple[list[Any], Any]] = [(parts, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            stack.extend(([*where, str(key)], child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend(([*where, index], child) for index, child in enumerate(item))
        else:
            yield where, item


def interpolate(
    document_or_text: Document | bytes | str,
    env: Mapping[str, str],
    base_url: str,
    *,
    source: str = "fixtures",
    yaml_syntax: bool = True,
) -> Document:
    """A copy of the document with `${NAME}` and `${NAME:-default}` replaced in string values.

    Text is parsed first (YAML, or JSON with `yaml_syntax=False`). `HARBOR_EMULATOR_URL` is
    `base_url`, whatever `env` says. Raises HarborError `invalid_fixtures` for an undefined
    name without a default or a malformed reference, and `invalid_json` for a non-finite
    number.
    """
    variables = {**env, URL_VARIABLE: base_url.rstrip("/")}
    if isinstance(document_or_text, dict):
        document = document_or_text
        check_numbers(document, source)
        return _map_strings(
            document,
            "$",
            lambda value, parts: _substitute(value, variables, document, parts, source),
        )
    parsed = parse_document(document_or_text, source=source, yaml_syntax=yaml_syntax)
    # A document parsed here is nobody else's: changed where it is, without a copy of
    # several MB to build and then free.
    with released_on_error(parsed):
        return _map_strings(
            parsed,
            "$",
            lambda value, parts: _substitute(value, variables, parsed, parts, source),
            in_place=True,
        )


def _map_strings(
    document: Document,
    needle: str,
    change: Callable[[str, list[Any]], str],
    *,
    in_place: bool = False,
) -> Document:
    """A copy of `document` (or `document` itself, `in_place`) with `change(text,
    path_parts)` applied to each string value holding `needle`. Iterative, so a payload
    nested as deep as JSON allows is no problem. In place, a container that YAML aliases
    share is changed once, where it first appears, as a second pass would change `$${`."""
    root: Document = document if in_place else dict(document)
    seen: set[int] = set()
    stack: list[tuple[Any, list[Any]]] = [(root, [])]
    while stack:
        container, parts = stack.pop()
        slots = list(container.items()) if isinstance(container, dict) else enumerate(container)
        for slot, value in slots:
            if isinstance(value, str):
                if needle in value:
                    container[slot] = change(value, [*parts, slot])
            elif isinstance(value, dict | list):
                if in_place:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                else:
                    value = dict(value) if isinstance(value, dict) else list(value)
                    container[slot] = value
                stack.append((value, [*parts, slot]))
    return root


def _substitute(
    value: str, variables: Mapping[str, str], document: Document, parts: list[Any], source: str
) -> str:
    def fail(problem: str) -> HarborError:
        return fixture_error(source, field_path(parts), problem, entry_id_at(document, parts))

    out: list[str] = []
    index = 0
    while (dollar := value.find("$", index)) >= 0:
        out.append(value[index:dollar])
        if value.startswith("$${", dollar):
            out.append("${")  # $${ is a literal ${
            index = dollar + 3
        elif value.startswith("${", dollar):
            end = value.find("}", dollar + 2)
            if end < 0:
                raise fail("a '${' has no closing '}'; write $${ for a literal ${.")
            out.append(_lookup(value[dollar + 2 : end], variables, fail))
            index = end + 1
        else:
            out.append("$")
            index = dollar + 1
    out.append(value[index:])
    return "".join(out)


def _lookup(body: str, variables: Mapping[str, str], fail: Any) -> str:
    name, has_default, default = body.partition(":-")
    if not _NAME.fullmatch(name):
        raise fail(
            f"'${{{body[:50]}}}' is not a reference: write ${{NAME}} or ${{NAME:-default}} "
            "with NAME of letters, digits and _, or $${ for a literal ${."
        )
    found = variables.get(name)
    if found is not None and (found != "" or not has_default):
        return found
    if has_default:
        return default
    raise fail(
        f"${{{name}}} is not set and has no default: set {name} in the environment, "
        f"or write ${{{name}:-default}}."
    )


def escape(document: Document) -> Document:
    """Every `${` in string values written as `$${`, so interpolating again changes nothing.

    For a document already interpolated on one side (the CLI, with its environment) that the
    other side (the server) interpolates once more, and for exports of stored text.
    """
    return _map_strings(document, "${", lambda value, _parts: value.replace("${", "$${"))


def server_base_url(host: str, port: int) -> str:
    """The emulator's own base URL from its --host and --port: loopback for a wildcard
    address (it is what a delivery to our own /_sink can connect to), IPv6 in brackets."""
    if host in _WILDCARD_HOSTS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
