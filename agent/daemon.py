"""The device daemon, started lean: ``edgefleet-agent run`` parses its command line with typer and checks
the configuration, then replaces its own process (same pid) with this entry point, which never imports
typer nor what typer imports to run a command (pydantic for parameter coercion, rich): about 8 MiB less
resident memory for the daemon's whole life (issue 19 item 4). What ``run`` resolved from its flags travels
in one environment variable; the configuration file and environment are read again, as ``run`` read them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from edgefleet.agent.config import AgentConfig

__all__ = ["ENV", "exec_daemon", "main", "run_agent"]

#: The run's settings (configuration file, flag overrides, log level) as JSON; removed once read.
ENV = "EDGEFLEET_AGENT_RUN"


def exec_daemon(config: Path | None, overrides: Mapping[str, Any], log_level: str) -> NoReturn:
    """Replace this process with ``python -m edgefleet.agent.daemon`` (the original command line follows as
    arguments, unused, so the process still reads as ``edgefleet-agent run ...``)."""
    settings = {
        "config": None if config is None else str(config),
        "overrides": {k: str(v) if isinstance(v, Path) else v for k, v in overrides.items()},
        "log_level": log_level,
    }
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "edgefleet.agent.daemon", "--", *sys.argv]
    os.execve(sys.executable, argv, {**os.environ, ENV: json.dumps(settings)})


def run_agent(cfg: AgentConfig) -> None:
    """The daemon until SIGTERM or SIGINT (what ``run`` and this entry point both do; errors propagate)."""
    import asyncio
    import signal

    from edgefleet.agent.app import Agent

    async def main_async() -> None:
        agent = Agent(cfg)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, agent.stop)
        await agent.run()

    asyncio.run(main_async())


def _fail(kind: str, message: str, code: int) -> NoReturn:
    """One line on stderr, as the command line says errors (core.cli, without rich)."""
    from edgefleet.core.errors import one_line

    print(f"error ({kind}): {one_line(message)}", file=sys.stderr, flush=True)
    sys.exit(code)


def main() -> None:
    from edgefleet.agent.config import load_agent_config
    from edgefleet.core.errors import EXIT_CODES, EdgefleetError, ErrorCode, bug_message
    from edgefleet.core.logs import configure_logging

    raw = os.environ.pop(ENV, "")
    if not raw:
        err = ErrorCode.INVALID_ARGUMENT
        _fail(err.value, f"start the agent with `edgefleet-agent run` ({ENV} is unset)", EXIT_CODES[err])
    settings = json.loads(raw)
    try:
        configure_logging(settings["log_level"])
        config = settings["config"]
        cfg = load_agent_config(
            None if config is None else Path(config), env=os.environ, overrides=settings["overrides"]
        )
    except EdgefleetError as exc:  # checked by `run` before: only a file changed in between
        _fail(exc.code.value, exc.message, exc.exit_code)

    try:
        run_agent(cfg)
    except EdgefleetError as exc:
        _fail(exc.code.value, exc.message, exc.exit_code)
    except Exception as exc:  # a bug: one line, as every edgefleet command says it
        if os.environ.get("EDGEFLEET_DEBUG"):
            raise
        _fail(ErrorCode.INTERNAL.value, bug_message(exc), EXIT_CODES[ErrorCode.INTERNAL])


if __name__ == "__main__":
    main()
