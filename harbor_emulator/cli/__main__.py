"""`python -m harbor_emulator.cli …`: the same command as the `harbor-emulator` script."""

from .main import main

main()
