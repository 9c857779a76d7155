"""spikemesh.sim"""
