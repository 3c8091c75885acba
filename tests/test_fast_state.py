"""AttributeState reads as attributes and stays a Starlette State (mapping in step)."""

from __future__ import annotations

import pytest

from harbor_emulator.core.fast_state import AttributeState


def test_values_are_attributes_and_the_mapping_stays_in_step() -> None:
    scope_state = {"request_id": "req_1"}  # what middleware put in the ASGI scope first
    state = AttributeState(scope_state)
    assert state.request_id == "req_1"
    state.principal = "p"
    assert vars(state)["principal"] == "p"  # a plain attribute: no __getattr__ on reads
    assert scope_state == {"request_id": "req_1", "principal": "p"}
    assert state["principal"] == "p" and len(state) == 2
    del state.principal
    assert scope_state == {"request_id": "req_1"}
    with pytest.raises(AttributeError):
        _ = state.principal
    scope_state["late"] = 1  # written to the mapping directly: still readable
    assert state.late == 1
