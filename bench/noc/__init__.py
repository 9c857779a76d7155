"""BookSim-style NoC benchmarks on MeshModel (and a few points on the RTL)."""
