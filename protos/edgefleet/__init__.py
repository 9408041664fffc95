"""edgefleet: run compressed ML models on fleets of edge devices.

Subpackages: ``edgefleet.core`` (shared by both sides), ``edgefleet.agent`` (the device daemon),
``edgefleet.orchestrator`` (the control plane and CLI) and ``edgefleet.v1`` (the generated wire contract).
"""

__version__ = "0.1.0"
