"""The `harbor-emulator` command (click): `main` is the console script's entry point."""

from .main import main

__all__ = ["main"]
