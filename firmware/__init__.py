"""spikemesh.firmware"""
