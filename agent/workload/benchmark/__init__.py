"""Benchmark jobs: candidate variants measured on this device, interleaved, while the serving variant keeps
serving (``jobs``: receipt, order, reports; ``runner``: one job; ``turns``: the inference-thread work;
``figures``: the arithmetic; ``progress``: one candidate's; ``store``: final reports kept for 24 h)."""
