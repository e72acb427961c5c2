"""Eight OS processes writing through the services at once on one SQLite file (WAL mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.operations.datadir import migrated_data_dir, run_workload

WRITERS = 8
CALLS = 100  # per writer: 1 opportunity, 33 contact creates, 33 updates, 33 stage moves


@pytest.mark.slow
def test_eight_processes_write_at_once_without_locking_errors(tmp_path: Path) -> None:
    data_dir = migrated_data_dir(tmp_path / "data")

    run = run_workload(data_dir, "concurrent-writes", str(WRITERS), str(CALLS), timeout=180)

    writers, before, after = run["writers"], run["before"], run["after"]
    assert [w.get("crash") for w in writers] == [None] * WRITERS
    assert [w["locked"] for w in writers] == [0] * WRITERS
    assert [w["errors"] for w in writers] == [[]] * WRITERS
    # Every write is there: each contact with its last title, each stage move in the history.
    expected_titles = {pk: title for w in writers for pk, title in w["titles"].items()}
    assert len(expected_titles) == WRITERS * 33
    assert after["titles"] == expected_titles
    moves = sum(w["moves"] for w in writers)
    assert moves == WRITERS * 33
    assert after["stage_changes"] == before["stage_changes"] + WRITERS + moves
    writes = WRITERS * CALLS
    assert after["audit_links"] == before["audit_links"] + writes
    assert after["events"] == before["events"] + writes
    # The eight writers' audit links form one unbroken chain.
    assert after["chain_broken_at"] is None
    assert after["chain_links"] == after["audit_links"]
