"""System programs the tests use (installed by `make system-deps`)."""

from __future__ import annotations

import os
import shutil

import pytest


def system_binary(name: str) -> str:
    """The program's path; in CI a missing one fails the test, elsewhere it skips it."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing in CI: `make system-deps` installs Debian's prometheus")
        pytest.skip(f"{name} is not installed (make system-deps)")
    return found
