"""Exceptions raised for bad user input (configs, networks, images).

Every error names what is wrong, the value, and the allowed range, so that a
user never has to read a traceback from deep inside numpy or Amaranth.
"""


class SpikemeshError(Exception):
    """Base class of every error spikemesh raises on bad input."""


class ConfigError(SpikemeshError, ValueError):
    """A chip/core/router configuration is out of range or inconsistent."""


class NetworkError(SpikemeshError, ValueError):
    """A network description (Python API or YAML) is malformed or out of range."""


class CompileError(SpikemeshError, ValueError):
    """A network does not fit the chip it is compiled for."""


class ImageError(SpikemeshError, ValueError):
    """A chip image is corrupted, of the wrong version, or for another chip."""
