"""spikemesh.firmware: the network compiler, the chip image format, and loaders."""

from .compiler import Utilization, auto_chip, compile_network
from .image import IMAGE_VERSION, ChipImage

__all__ = ["IMAGE_VERSION", "ChipImage", "Utilization", "auto_chip", "compile_network"]
