"""What the device runs: the inference engine (one thread, Predict first), the local Inference API, the replay
workload, and benchmark jobs (candidates measured beside the serving variant)."""
