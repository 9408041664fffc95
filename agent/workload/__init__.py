"""What the device runs: the inference engine (one thread), the local Inference API, the replay workload."""
