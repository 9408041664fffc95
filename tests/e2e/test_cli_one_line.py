"""Every failure of the command lines is one line on stderr, as the README promises (issue 17 item 7), seen
from a real process whose stderr is a pipe (not a terminal) and narrow: usage errors too, user bytes never
read as markup or emoji, and the user's own paths with what is wrong with them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.processes import BIN, orchestrator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NARROW = {**os.environ, "COLUMNS": "40"}
MODEL = Path(__file__).parents[2] / "orchestrator/reference/digits/digits_w1.0.tflite"


def one_line(argv: list[str], code: int, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, check=False, env={**NARROW, **(env or {})}
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error ("), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["telemetry", "digits", "--no-such-flag"],
            "No such option: --no-such-flag (see 'edgefleet telemetry",
        ),
        (
            ["variants", "add", "model.tflite"],
            "Missing option '--model' (see 'edgefleet variants add --help')",
        ),
        (["rollout", "show"], "No such command 'show' (see 'edgefleet rollout --help')"),
        (["events", "--limit", "0"], "Invalid value for '--limit'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args: list[str], says: str) -> None:
    line = one_line([str(BIN / "edgefleet"), *args], 2)
    assert line.startswith("error (invalid_argument): "), line
    assert says in line


def test_a_long_error_does_not_wrap_on_a_narrow_pipe(tmp_path: Path) -> None:
    line = one_line([str(BIN / "edgefleet"), "plan", "digits"], 5, {"EDGEFLEET_DATA_DIR": str(tmp_path)})
    assert len(line) > 100
    assert "no CA certificate at" in line


def test_agent_check_says_what_is_wrong_with_the_path(tmp_path: Path) -> None:
    check = [str(BIN / "edgefleet-agent"), "check"]
    assert one_line([*check, "/dev/null"], 2).endswith("/dev/null: a character device, not a model file")
    assert one_line([*check, str(tmp_path)], 2).endswith(f"{tmp_path}: a directory, not a model file")
    (tmp_path / "empty.tflite").write_bytes(b"")
    assert one_line([*check, str(tmp_path / "empty.tflite")], 2).endswith("the model file is empty (0 bytes)")
    assert one_line([*check, str(tmp_path / "absent.tflite")], 2).endswith(
        "absent.tflite: no such model file"
    )
    eval_line = one_line([*check, str(MODEL), "--eval", "/etc/passwd"], 2)
    assert eval_line.endswith("/etc/passwd: not a readable .npz evaluation set (not a zip archive of arrays)")
    assert "allow_pickle" not in eval_line
    assert "usage" not in one_line([*check], 2).lower()


def test_variants_add_names_the_users_path_and_never_renders_its_bytes(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")  # ":x:" is an emoji code to rich
    marked = tmp_path / "marked.tflite"
    marked.write_bytes(b"\x00\x00\x00\x00[b]x" + b"\x00" * 64)  # [b] is rich markup for bold
    with orchestrator(tmp_path / "orch", secure=False) as (_, served):
        add = [str(BIN / "edgefleet"), "variants", "add", "--model", "digits"]
        env = served.env()
        line = one_line([*add, str(passwd)], 2, env)
        assert f"{passwd}: not a TFLite flatbuffer (file identifier b':x:0'" in line, line
        assert "❌" not in line
        assert "user.tflite" not in line
        line = one_line([*add, str(marked)], 2, env)
        assert f"{marked}: not a TFLite flatbuffer (file identifier b'[b]x'" in line, line
        line = one_line([*add, str(MODEL), "--eval", str(passwd)], 2, env)
        assert f"{passwd}: not a readable .npz evaluation set (not a zip archive of arrays)" in line, line
        assert one_line([*add, "/dev/null"], 2, env).endswith(
            "/dev/null: a character device, not a model file"
        )
