"""The store's place in the configuration: ``store`` (file, EDGEFLEET_STORE, --store), its default in
data_dir, and the telemetry retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgefleet.core.errors import InvalidArgument
from edgefleet.orchestrator.config import load_config


def test_the_default_store_is_the_sqlite_file_in_data_dir(tmp_path: Path) -> None:
    cfg = load_config(overrides={"data_dir": tmp_path / "data"})
    assert cfg.store == ""
    assert cfg.store_url == f"sqlite:///{tmp_path / 'data' / 'edgefleet.sqlite'}"
    assert cfg.telemetry_retention_days == 30.0


def test_file_then_env_then_flag(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[server]\nstore = "sqlite:////srv/a.sqlite"\ntelemetry_retention_days = 7\n')
    assert load_config(toml).store_url == "sqlite:////srv/a.sqlite"
    env = {"EDGEFLEET_STORE": "postgresql://edge@db:5432/fleet", "EDGEFLEET_TELEMETRY_RETENTION_DAYS": "0"}
    cfg = load_config(toml, env=env)
    assert (cfg.store_url, cfg.telemetry_retention_days) == ("postgresql://edge@db:5432/fleet", 0.0)
    flag = load_config(toml, env=env, overrides={"store": "postgresql://edge@other/fleet"})
    assert flag.store_url == "postgresql://edge@other/fleet"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EDGEFLEET_STORE": "mysql://edge:hunter2@db/fleet"}, "store: expected sqlite:///PATH"),
        ({"EDGEFLEET_STORE": "postgresql://edge:hunter2@db"}, "store: the URL names no database"),
        ({"EDGEFLEET_TELEMETRY_RETENTION_DAYS": "-1"}, "telemetry_retention_days: expected 0-36500"),
    ],
)
def test_bad_store_settings_are_one_clear_line_without_the_password(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message) as caught:
        load_config(env=env)
    assert "hunter2" not in caught.value.message
