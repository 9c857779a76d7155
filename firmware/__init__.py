"""spikemesh.firmware: the network compiler, the chip image format, and loaders."""

from .compiler import Utilization, compile_network
from .image import IMAGE_VERSION, ChipImage

__all__ = ["IMAGE_VERSION", "ChipImage", "Utilization", "compile_network"]
