"""``python -m edgefleet.agent``: the same command line as the ``edgefleet-agent`` console script."""

from edgefleet.agent.cli import main

main()
