from __future__ import annotations

from pathlib import Path

import pytest

from edgefleet.agent.config import load_agent_config
from edgefleet.core.errors import InvalidArgument
from edgefleet.orchestrator.config import load_config


def test_layers_file_then_env_then_flags(tmp_path: Path) -> None:
    toml = tmp_path / "edgefleet.toml"
    toml.write_text(
        '[server]\nlisten = "0.0.0.0:7000"\ndata_dir = "/srv/ef"\nmax_message_mb = 8\nprofiles = ["/etc/p"]\n'
    )
    cfg = load_config(
        toml, env={"EDGEFLEET_MAX_MESSAGE_MB": "16"}, overrides={"listen": "127.0.0.1:0", "data_dir": None}
    )
    assert cfg.listen == "127.0.0.1:0"  # flag beats file
    assert cfg.max_message_mb == 16  # env beats file
    assert cfg.data_dir == Path("/srv/ef")  # an unset flag keeps the file's value
    assert cfg.profiles == (Path("/etc/p"),)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ('[server]\nlisten = "nohost"\n', {}, "listen: expected HOST:PORT"),
        ("[server]\nmax_message_mb = 5000\n", {}, "max_message_mb: expected 1-1024"),
        ('[server]\ncolour = "red"\n', {}, r"unknown \[server\] key\(s\) \['colour'\]"),
        ("[server\n", {}, "invalid TOML"),
        ("", {"EDGEFLEET_BUILD_WORKERS": "many"}, "EDGEFLEET_BUILD_WORKERS: build_workers must be int"),
        ("[server]\ntrial_seconds = -1\n", {}, "trial_seconds"),
        ('[server]\nmetrics_listen = "9464"\n', {}, "metrics_listen: expected HOST:PORT"),
        ("", {"EDGEFLEET_METRICS_LISTEN": "127.0.0.1:99999"}, "metrics_listen: expected HOST:PORT"),
    ],
)
def test_bad_configuration_names_the_setting(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        load_config(toml, env=env)


def test_metrics_listen_layers_and_may_be_off(tmp_path: Path) -> None:
    toml = tmp_path / "edgefleet.toml"
    toml.write_text('[server]\nmetrics_listen = "127.0.0.1:9500"\n')
    assert load_config(toml).metrics_listen == "127.0.0.1:9500"
    env = {"EDGEFLEET_METRICS_LISTEN": "127.0.0.1:0"}
    assert load_config(toml, env=env).metrics_listen == "127.0.0.1:0"
    flag = {"metrics_listen": "[::1]:9600"}
    assert load_config(toml, env=env, overrides=flag).metrics_listen == "[::1]:9600"
    assert load_config(overrides={"metrics_listen": ""}).metrics_listen == ""  # no endpoint
    assert load_config().metrics_listen == "127.0.0.1:9464"


def test_agent_config(tmp_path: Path) -> None:
    cfg = load_agent_config(
        env={"EDGEFLEET_AGENT_PROFILE": "rpi4", "EDGEFLEET_AGENT_REPLAY_RATE": "5"},
        overrides={"data_dir": str(tmp_path)},
    )
    assert (cfg.profile, cfg.replay_rate, cfg.data_dir) == ("rpi4", 5.0, tmp_path)
    with pytest.raises(InvalidArgument, match="replay_rate must be >= 0"):
        load_agent_config(overrides={"replay_rate": -1})
    with pytest.raises(InvalidArgument, match="no such configuration file"):
        load_agent_config(tmp_path / "missing.toml")


def test_agent_labels_from_the_file_the_environment_and_flags(tmp_path: Path) -> None:
    toml = tmp_path / "agent.toml"
    toml.write_text('[agent]\nlabels = {site = "berlin", rack = 3}\n')
    assert load_agent_config(toml).labels == (("rack", "3"), ("site", "berlin"))
    env = {"EDGEFLEET_AGENT_LABELS": "site=paris, rack=7"}
    assert load_agent_config(toml, env=env).labels == (("rack", "7"), ("site", "paris"))  # env beats file
    flags = {"labels": ["site=oslo", "tier=canary"]}
    assert load_agent_config(toml, env=env, overrides=flags).labels == (("site", "oslo"), ("tier", "canary"))
    assert load_agent_config().labels == ()


@pytest.mark.parametrize(
    ("env", "flags", "message"),
    [
        ({"EDGEFLEET_AGENT_LABELS": "site"}, None, r"EDGEFLEET_AGENT_LABELS: label 'site' is not KEY=VALUE"),
        ({}, ["Site=berlin"], r"--label: invalid label key 'Site'"),
        ({}, ["site=ber lin"], r"--label: invalid value 'ber lin' for label 'site'"),
        ({}, ["site=a", "site=b"], r"--label: label 'site' given twice"),
        ({}, [f"k{i}=v" for i in range(33)], r"--label: 33 labels; at most 32"),
    ],
)
def test_bad_agent_labels_name_what_is_wrong(
    env: dict[str, str], flags: list[str] | None, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        load_agent_config(env=env, overrides={"labels": flags})


def test_bad_labels_in_the_file_name_the_setting(tmp_path: Path) -> None:
    toml = tmp_path / "agent.toml"
    toml.write_text('[agent]\nlabels = {"../x" = "y"}\n')
    with pytest.raises(InvalidArgument, match=r"\[agent\] labels: invalid label key '../x'"):
        load_agent_config(toml)
