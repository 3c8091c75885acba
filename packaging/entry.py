"""Entry point frozen by build.spec: the same `main` as the `harbor-emulator` console script."""

from harbor_emulator.cli import main

if __name__ == "__main__":
    main()
