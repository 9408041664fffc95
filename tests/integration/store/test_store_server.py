"""The store inside the server: `edgefleet serve --store postgresql://...` (a real process on a real
PostgreSQL, the password never printed) and the hourly retention task."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from edgefleet.orchestrator.store import SqliteStore
from edgefleet.orchestrator.store.migrate import schema_head
from tests.helpers.fleet import orchestrator_in_process, wait_for
from tests.helpers.postgres import PostgresServer
from tests.helpers.processes import BIN, stop
from tests.helpers.records import device, window


def _wait_for_line(log: Path, text: str, proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout  # a hang guard, not a timed assertion
    while time.monotonic() < deadline:
        out = log.read_text()
        if text in out:
            return out
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the output: {log.read_text()[-2000:]}")


def test_serve_on_postgresql_never_prints_the_password(pg_server: PostgresServer, tmp_path: Path) -> None:
    database = pg_server.create_database("serve")
    url = pg_server.url(database, password="pw-never-shown")
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "edgefleet"), "serve", "--insecure", "--api-listen", "", "--listen", "127.0.0.1:0",
             "--data-dir", str(tmp_path / "data"), "--store", url, "--log-level", "debug"],
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            text = _wait_for_line(log, "listening on", proc)
            assert "store: postgresql://edgefleet:***@127.0.0.1" in text
        finally:
            assert stop(proc) == 0
    assert "pw-never-shown" not in log.read_text()
    assert not (tmp_path / "data" / "edgefleet.sqlite").exists()  # the store is the database
    engine = sa.create_engine(pg_server.url(database).replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [(schema_head(),)]
    engine.dispose()
    # a wrong store URL is one clear line with its exit code, the password masked
    bad = subprocess.run(
        [str(BIN / "edgefleet"), "serve", "--insecure", "--api-listen", "", "--data-dir", str(tmp_path / "d2"),
         "--store", "mysql://edgefleet:pw-never-shown@db/x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "store: expected sqlite:///PATH" in bad.stderr + bad.stdout
    assert "pw-never-shown" not in bad.stderr + bad.stdout


async def test_the_server_folds_old_telemetry_away(tmp_path: Path) -> None:
    template = tmp_path / "template"
    template.mkdir()
    store = SqliteStore(tmp_path / "orch" / "edgefleet.sqlite")
    store.put_device(device())
    now = time.time()
    store.put_windows([window(s, end=now - 40 * 86400 + s) for s in range(1, 51)])
    store.put_windows([window(s, end=now) for s in range(51, 53)])
    store.advance_ack("rpi4-1")
    totals = store.variant_totals()
    store.close()
    async with orchestrator_in_process(template, tmp_path, telemetry_retention_days=30.0) as server:
        await wait_for(lambda: server.services.store.count_windows() == 2, what="old windows pruned")
        assert sum(h.windows for h in server.services.store.hourly_windows()) == 50
        assert server.services.store.variant_totals() == totals
