"""`from harbor_emulator.testcontainers import HarborContainer` keeps working: the container
now lives with the other pieces for test suites, in harbor_emulator.testing.testcontainers."""

from .testing.testcontainers import DEFAULT_IMAGE, FIXTURES_PATH, PORT, HarborContainer

__all__ = ["DEFAULT_IMAGE", "FIXTURES_PATH", "PORT", "HarborContainer"]
