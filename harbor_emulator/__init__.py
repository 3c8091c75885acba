"""harbor-emulator: a local, faithful emulator of the Harbor events and webhooks API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("harbor-emulator")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
