"""A fixtures document's text to Python values, bounded (contract: Limits, Documents).

YAML aliases are allowed, but a document whose aliases recurse, or whose expansion would add
more than `MAX_ALIAS_NODES` nodes or make it more than `MAX_EXPANSION_RATIO` times its own
size, is refused naming the alias's line. The YAML is composed into its node graph first
(libyaml, when PyYAML has it), the graph measured with each node's expanded size memoised,
and only a document that passes is built: so neither a cycle nor a billion laughs is ever
expanded, and refusing one costs what reading its text costs (milliseconds).

The server reads documents on a worker thread, which gives the GIL up every 5 ms. Three
things hold it longer in one C call, so they are done in small steps instead:
- decoding a large JSON text in one `json.loads` (~20 ms per MB): `load_json` decodes each
  entry of each section on its own;
- freeing millions of objects at once when a large node graph or document is dropped
  (~260 ms for 4.5 MB of YAML): `release` empties it container by container;
- the cyclic garbage collector, paused by the caller meanwhile (`fixtures.read_document`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

# The media types a document in YAML syntax is sent as (JSON: application/json, *+json).
YAML_MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")

# Aliases may add at most this many nodes to a document, and make it at most this many
# times its own size. Sizes count nodes: each scalar, sequence and mapping (keys included)
# as written, an alias as one; expanded, an alias counts as the whole node it names.
MAX_ALIAS_NODES = 100_000
MAX_EXPANSION_RATIO = 10
# Python's own limit for turning an int into decimal text (sys.get_int_max_str_digits()).
MAX_INTEGER_DIGITS = 4300

_INTEGER_CEILING = 10**MAX_INTEGER_DIGITS
_SIZE_CAP = 1 << 62  # expanded sizes stop growing here: past every limit, still a small int
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


class UnreadableDocument(ValueError):
    """The text is not a document we read; the message says why and, for YAML, where."""


# -- YAML -------------------------------------------------------------------------------


def load_yaml(text: str) -> Any:
    """The value of a one-document YAML text; raises UnreadableDocument."""
    import yaml  # imported on first use: it costs every start ~100 ms otherwise

    loader = _yaml_loader()(text)
    node = None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        written = check_aliases(node)
        if written:
            raise UnreadableDocument(_alias_problem(text, written))
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UnreadableDocument(f"invalid YAML{at}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise UnreadableDocument(f"invalid YAML: {exc}") from None
    except RecursionError:
        # Only the pure-Python parser gets here; libyaml stops at 1,000 levels by itself.
        raise UnreadableDocument("invalid YAML: nested too deep.") from None
    finally:
        loader.dispose()
        if node is not None:
            _dismantle(node)
        # What a construction that failed half way had built.
        built = getattr(loader, "constructed_objects", None)
        if built:
            release(list(built.values()))
            built.clear()


@functools.cache
def _yaml_loader() -> type:
    """PyYAML's safe loader, on libyaml when it is there (PyYAML's wheels ship it: a
    document loads ~5x faster than with the pure-Python parser), refusing values no Python
    type can hold with their line instead of letting them escape as a 500."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    refuse = yaml.constructor.ConstructorError

    class Loader(base):  # type: ignore[valid-type, misc]
        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except ValueError as exc:  # a date like 2026-13-01, an integer too long
                problem = str(exc)[:200].rstrip(".") + "."
                raise refuse(None, None, problem, node.start_mark) from None
            except OverflowError:  # a base-60 float (1:30.5) past a float's range
                raise refuse(None, None, "a number too large.", node.start_mark) from None

    Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    return Loader


def _construct_int(loader: Any, node: Any) -> int:
    import yaml

    # YAML 1.1's base-60 integers (1:30:00) take quadratic time in their length: 600 KB of
    # one held a core for 20 s. JSON can't carry an integer Python won't print anyway.
    text = loader.construct_scalar(node)
    if len(text) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of more than {MAX_INTEGER_DIGITS:,} digits")
    value: int = yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    if abs(value) >= _INTEGER_CEILING:
        raise ValueError(f"an integer of more than {MAX_INTEGER_DIGITS:,} digits")
    return value


def check_aliases(root: Any) -> int:
    """0 if a composed document's aliases are within the limits, else its size as written.

    One walk over the node graph with each node's expanded size memoised, so a billion
    laughs costs what its text costs: nothing is expanded to decide. A cycle counts as over.
    """
    if not _shares_a_collection(root):
        return 0  # no alias names a sequence or mapping: nothing can recurse or grow
    expanded_size: dict[int, int] = {}
    on_path = {id(root)}
    written = 1  # the root, then one per edge: each is a node or an alias in the text
    over = False
    stack: list[tuple[Any, Iterator[Any]]] = [(root, _children(root))]
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            on_path.discard(id(node))
            size = 1 + sum(expanded_size[id(c)] for c in _children(node))
            expanded_size[id(node)] = min(size, _SIZE_CAP)
            continue
        written += 1
        if id(child) in on_path:
            over = True  # a cycle; `written` is still counted in full for the message
            expanded_size[id(child)] = _SIZE_CAP
        elif id(child) in expanded_size:
            continue  # an alias of a node already measured
        elif isinstance(child.value, str):
            expanded_size[id(child)] = 1
        else:
            on_path.add(id(child))
            stack.append((child, _children(child)))
    if over or expanded_size[id(root)] > _allowed_size(written):
        return written
    return 0


def _shares_a_collection(root: Any) -> bool:
    """Whether any sequence or mapping is reached twice. The common document, with no such
    alias, is told in one quick pass (an alias of a scalar adds nothing)."""
    seen = {id(root)}
    stack = [root]
    while stack:
        node = stack.pop()
        for child in _children(node):
            if not isinstance(child.value, str):
                if id(child) in seen:
                    return True
                seen.add(id(child))
                stack.append(child)
    return False


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node.value, str):  # a scalar
        return iter(())
    if node.id == "mapping":
        return itertools.chain.from_iterable(node.value)
    return iter(node.value)


def _allowed_size(written: int) -> int:
    return min(written + MAX_ALIAS_NODES, written * MAX_EXPANSION_RATIO)


def _alias_problem(text: str, written: int) -> str:
    """What is wrong with a document `check_aliases` refused, at the alias at fault.

    The node graph keeps no trace of where an alias was written, so the text's events are
    read again (only on this path): the alias that names a node still open (a cycle), or
    the first one with which the expansion passes the limit.
    """
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    allowed = _allowed_size(written)
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node, once it is closed
    anchor_lines: dict[str, int] = {}
    open_nodes: list[list[Any]] = []  # [anchor, expanded size so far] per open collection
    added = 0
    for event in yaml.parse(text, Loader=base):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            where = f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}"
            name = event.anchor
            if name not in sizes:
                return (
                    f"{where}: alias *{name} is inside the node it names (&{name}, line "
                    f"{anchor_lines[name]}), so the document would never end."
                )
            size = sizes[name]
            added += size - 1
            if open_nodes:
                open_nodes[-1][1] += size
            if written + added > allowed:
                limit = (
                    f"by more than {MAX_ALIAS_NODES:,} nodes"
                    if allowed == written + MAX_ALIAS_NODES
                    else f"to more than {MAX_EXPANSION_RATIO} times its own {written:,} nodes"
                )
                return (
                    f"{where}: alias *{name} stands for {size:,} nodes, and with it the "
                    f"document's aliases would grow it {limit}."
                )
        elif isinstance(event, yaml.NodeEvent):
            if event.anchor is not None:
                anchor_lines[event.anchor] = event.start_mark.line + 1
            if isinstance(event, yaml.ScalarEvent):
                if event.anchor is not None:
                    sizes[event.anchor] = 1
                if open_nodes:
                    open_nodes[-1][1] += 1
            else:
                open_nodes.append([event.anchor, 1])
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, size = open_nodes.pop()
            if anchor is not None:
                sizes[anchor] = min(size, _SIZE_CAP)
            if open_nodes:
                open_nodes[-1][1] += size
    return "invalid YAML: its aliases recurse or expand it too far."  # not reached


def _dismantle(root: Any) -> None:
    """Drop a node graph a few objects at a time (see the module's docstring)."""
    stack = [root]
    while stack:
        node = stack.pop()
        value = node.value
        if isinstance(value, list):  # each node once: a shared one is emptied at first sight
            node.value = None
            for child in value:
                if isinstance(child, tuple):
                    stack.extend(child)
                else:
                    stack.append(child)


# -- JSON -------------------------------------------------------------------------------


def load_json(text: str) -> Any:
    """The value of a JSON text; raises UnreadableDocument.

    An object of arrays (a fixtures document) is decoded one array item at a time, so no
    single C call holds the GIL for more than one entry; anything else, in one call.
    """
    try:
        return _load_json_by_entry(text)
    except (ValueError, RecursionError, IndexError):
        pass  # not an object of arrays, or not valid: the whole text says which, and where
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UnreadableDocument(f"invalid JSON: {str(exc)[:200]}") from None


def _load_json_by_entry(text: str) -> dict[str, Any]:
    decode = json.JSONDecoder().raw_decode
    skip = _JSON_SPACE.match
    document: dict[str, Any] = {}
    at = skip(text, 0).end()
    if text[at] != "{":
        raise ValueError("not an object")
    at = skip(text, at + 1).end()
    while text[at] != "}":
        if document:
            if text[at] != ",":
                raise ValueError("expected ','")
            at = skip(text, at + 1).end()
        if text[at] != '"':
            raise ValueError("expected a key")
        key, at = decode(text, at)
        at = skip(text, at).end()
        if text[at] != ":":
            raise ValueError("expected ':'")
        at = skip(text, at + 1).end()
        if text[at] == "[":
            items: list[Any] = []
            at = skip(text, at + 1).end()
            while text[at] != "]":
                if items:
                    if text[at] != ",":
                        raise ValueError("expected ','")
                    at = skip(text, at + 1).end()
                item, at = decode(text, at)
                items.append(item)
                at = skip(text, at).end()
            document[key] = items
            at += 1
        else:
            document[key], at = decode(text, at)
        at = skip(text, at).end()
    if skip(text, at + 1).end() != len(text):
        raise ValueError("extra data")
    return document


# -- freeing ----------------------------------------------------------------------------


class _CollectorPause:
    """How many documents are being read or written now, and whether the collector was on
    before the first of them. The collector belongs to the process, not to one app."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.was_enabled = False


_pause = _CollectorPause()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a large document is read or written.

    Composing YAML makes a few Python objects per byte; a collection that finds a million
    of them young holds the GIL, and so every request, for as long as it traverses them
    (measured: 690 ms in one pass, for 4.5 MB of YAML). What a read builds is acyclic
    (`check_aliases` refuses cycles first) and freed by reference counting, so nothing is
    lost by not collecting meanwhile. Two apps of one process reading at once share one
    pause; a collector that was off before stays off.
    """
    with _pause.lock:
        if _pause.count == 0:
            _pause.was_enabled = gc.isenabled()
            gc.disable()
        _pause.count += 1
    try:
        yield
    finally:
        with _pause.lock:
            _pause.count -= 1
            if _pause.count == 0 and _pause.was_enabled:
                gc.enable()


@contextlib.contextmanager
def released_on_error(document: Any) -> Iterator[None]:
    """`release(document)` if the block raises: a document refused after it was built."""
    try:
        yield
    except BaseException:
        release(document)
        raise


def release(value: Any) -> None:
    """Empty a parsed document container by container, so that dropping it never frees
    millions of objects in one step (see the module's docstring). Shared containers (a
    YAML alias) are emptied once; the value is unusable afterwards."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
            item.clear()
        elif isinstance(item, list):
            stack.extend(item)
            item.clear()
