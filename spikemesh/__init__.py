"""spikemesh: a cycle-accurate digital neuromorphic chip model."""

__version__ = "0.1.0"
