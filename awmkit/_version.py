"""The installed awmkit version, in one place: the package face re-exports it and every module that
records it (run directories, reports, references) imports it from here, at module top."""

import importlib.metadata

try:
    __version__: str = importlib.metadata.version("awmkit")
except importlib.metadata.PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
