"""A file a user names: what is wrong with the path, said in one line (issue 17 item 7)."""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from edgefleet.core.errors import InvalidArgument
from edgefleet.core.evalset import load_eval_set
from edgefleet.core.fsutil import check_user_file, read_user_file


def test_each_kind_of_wrong_path_is_named(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    cases = {
        tmp_path / "absent.tflite": "no such model file",
        tmp_path: "a directory, not a model file",
        Path("/dev/null"): "a character device, not a model file",
        fifo: "a named pipe, not a model file",
        empty: "the model file is empty (0 bytes)",
        tmp_path / "absent" / "deeper.tflite": "no such model file",
        empty / "below-a-file.tflite": "cannot reach the model file (Not a directory)",
    }
    for path, says in cases.items():
        with pytest.raises(InvalidArgument) as info:
            check_user_file(path, "model")
        assert info.value.message == f"{path}: {says}"


def test_a_socket_and_the_article(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s"))
        with pytest.raises(InvalidArgument, match=r"s: a socket, not an evaluation set file$"):
            check_user_file(tmp_path / "s", "evaluation set")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.tflite"
    secret.write_bytes(b"x")
    secret.chmod(0)
    with pytest.raises(InvalidArgument, match=r"cannot read the model file \(permission denied\)$"):
        read_user_file(secret, "model")


def test_a_good_file_is_read(tmp_path: Path) -> None:
    good = tmp_path / "m.tflite"
    good.write_bytes(b"TFL3")
    assert read_user_file(good, "model") == b"TFL3"


def test_an_evaluation_set_that_is_not_an_npz_or_holds_objects(tmp_path: Path) -> None:
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(InvalidArgument) as info:
        load_eval_set(text)
    assert info.value.message == f"{text}: not a readable .npz evaluation set (not a zip archive of arrays)"
    buf = io.BytesIO()
    np.savez(buf, x=np.array([{"a": 1}, {"b": 2}], dtype=object), y=np.array([0, 1]))
    with pytest.raises(InvalidArgument) as info:
        load_eval_set(buf.getvalue(), source="objects.npz")
    assert info.value.message.startswith("objects.npz: not a readable .npz evaluation set (it holds Python")
    assert "allow_pickle" not in info.value.message
    assert "pickle.load" not in info.value.message
    npy = io.BytesIO()
    np.save(npy, np.zeros(3))
    with pytest.raises(InvalidArgument, match="not a zip archive"):
        load_eval_set(npy.getvalue(), source="single.npy")
