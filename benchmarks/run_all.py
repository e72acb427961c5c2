"""Run every ``benchmarks/bench_*.py`` in turn; keep each one's JSON in ``benchmarks/results/``.

Each script runs as its own process (``make bench`` calls this with the project's Python), prints
JSON on stdout (progress goes to stderr) and may write its own result file; this runner stores
what it printed as ``benchmarks/results/<name>.json`` (``bench_api.py`` -> ``api.json``) and prints
a one-line summary per script. Environment knobs pass through (``BENCH_CONTACTS=50000`` for a
quick run); ``BENCH_ONLY=api,clv`` runs only those. Exits non-zero if a script failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def parse_json(stdout: str) -> Any:
    """The JSON a script printed: the whole output, or else its last line."""
    text = stdout.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])


def main() -> int:
    only = {n.strip() for n in os.environ.get("BENCH_ONLY", "").split(",") if n.strip()}
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in only]
    RESULTS.mkdir(parents=True, exist_ok=True)
    failed = []
    run_started = time.perf_counter()
    timings: dict[str, float] = {}
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        print(f"== {script.name}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=HERE.parent,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        timings[name] = round(seconds, 1)
        try:
            result = parse_json(done.stdout)
        except (json.JSONDecodeError, IndexError):
            result = None
        if done.returncode != 0 or result is None:
            failed.append(name)
            print(f"   {name}: FAILED (exit {done.returncode}) after {seconds:.0f} s", flush=True)
            continue
        (RESULTS / f"{name}.json").write_text(
            json.dumps(result, indent=2, ensure_ascii=False) + "\n"
        )
        print(f"   {name}: results/{name}.json ({seconds:.0f} s)", flush=True)
    total = time.perf_counter() - run_started
    summary = {"seconds": timings, "total_seconds": round(total, 1), "failed": failed}
    (RESULTS / "run_all.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"all scripts: {total / 60:.1f} min (results/run_all.json)", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
