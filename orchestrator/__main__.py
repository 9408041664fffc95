"""`python -m edgefleet.orchestrator`: the same as the `edgefleet` console script."""

from edgefleet.orchestrator.cli.app import main

main()
