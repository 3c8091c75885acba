"""harbor-emulator: a local, faithful emulator of the Harbor events and webhooks API."""

# The one place the version is written: pyproject.toml reads it from here (setuptools parses
# this assignment without importing the package). importlib.metadata would read the same
# string from the installed metadata, but importing it cost every process ~15-100 ms
# (email, zipfile, csv and a scan of sys.path), the slowest part of `--version`.
__version__ = "0.1.0"
