import pytest

from harbor_emulator.core.errors import HarborError
from harbor_emulator.domain.patterns import (
    matches,
    matches_any,
    validate_event_type,
    validate_pattern,
)


@pytest.mark.parametrize(
    "value",
    ["order.created", "a", "x" * 255, "Order.Created_v2", "invoice.paid:eu", "café.créé", "a*b"],
)
def test_valid_event_types(value: str) -> None:
    assert validate_event_type(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * 256,
        "order created",
        " order.created",
        "order.created\n",
        "order\tcreated",
        "order\x00created",
        "order\x7fcreated",
        "order\u00a0created",  # no-break space
        "order\u2028created",
        "order\ud800",
        None,
        42,
        True,
        ["order.created"],
        {"type": "order.created"},
    ],
)
def test_invalid_event_types(value: object) -> None:
    with pytest.raises(HarborError) as caught:
        validate_event_type(value)
    assert (caught.value.code, caught.value.param) == ("invalid_parameter", "type")


def test_event_type_error_names_the_given_param() -> None:
    with pytest.raises(HarborError) as caught:
        validate_event_type("", param="events[0].type")
    assert caught.value.param == "events[0].type"


@pytest.mark.parametrize("value", ["order.created", "*", "order.*", "order.item.*", "a.*"])
def test_valid_patterns(value: str) -> None:
    assert validate_pattern(value, "event_type") == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "order*",
        "*.created",
        "order.*.created",
        "order.**",
        "**",
        ".*",
        "*.*",
        "order. *",
        "x" * 254 + ".*",
        None,
        3,
    ],
)
def test_invalid_patterns(value: object) -> None:
    with pytest.raises(HarborError) as caught:
        validate_pattern(value, "events[1]")
    assert (caught.value.code, caught.value.param) == ("invalid_parameter", "events[1]")


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("order.created", "order.created", True),
        ("order.created", "order.created.v2", False),
        ("order.created", "Order.Created", False),
        ("*", "order.created", True),
        ("*", "x", True),
        ("order.*", "order.created", True),
        ("order.*", "order.item.added", True),
        ("order.*", "order", False),
        ("order.*", "order.", False),
        ("order.*", "orders.created", False),
        ("order.*", "preorder.created", False),
        ("order.item.*", "order.item.added", True),
        ("order.item.*", "order.created", False),
    ],
)
def test_matches(pattern: str, event_type: str, expected: bool) -> None:
    assert matches(pattern, event_type) is expected


def test_matches_any() -> None:
    assert matches_any(["invoice.paid", "order.*"], "order.shipped")
    assert matches_any(iter(["invoice.paid", "order.shipped"]), "order.shipped")
    assert not matches_any(["invoice.paid", "order.*"], "orders.shipped")
    assert not matches_any([], "order.shipped")
