"""The installed version of awmkit, importable by every module without importing the package's face."""

import importlib.metadata

try:
    __version__ = importlib.metadata.version("awmkit")
except importlib.metadata.PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
