"""``python -m bench [--sizes 100000,1000000] [--reps 3] [--quick]``: the benchmark suite.

Writes ``bench/results/suite.json`` and ``bench/RESULTS.md`` (or the paths given).
``--quick`` runs one tiny size once, to check that the suite works end to end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.suite import RESULTS_JSON, RESULTS_MD, run_suite


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes takes numbers separated by commas, e.g. 100000,1000000 (got {text!r})"
        ) from None
    if not sizes or min(sizes) < 1000:
        raise argparse.ArgumentTypeError("each size must be at least 1000 accounts")
    return sizes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--sizes", type=_sizes, default=[100_000, 1_000_000],
                   help="accounts per world, comma-separated (default 100000,1000000)")
    p.add_argument("--reps", type=int, default=3,
                   help="repetitions per size below 1M (medians are reported; 1M runs once)")
    p.add_argument("--quick", action="store_true",
                   help="one world of 2,000 accounts, once: a smoke run")
    p.add_argument("--spark", action="store_true",
                   help="also time the whole run on a local Spark session")
    p.add_argument("--stages", default=None,
                   help="only these stages, comma-separated (default: every registered one)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--config", type=Path, default=None, help="growthmap.toml to run with")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where worlds and workspaces go (default: a temporary folder)")
    p.add_argument("--json", type=Path, default=RESULTS_JSON)
    p.add_argument("--markdown", type=Path, default=RESULTS_MD)
    a = p.parse_args(argv)
    sizes, reps = ([2000], 1) if a.quick else (a.sizes, a.reps)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="growthmap-bench-") as tmp:
        workdir = a.workdir or Path(tmp)
        run_suite(sizes, reps=reps, seed=a.seed, workdir=workdir, config=a.config,
                  spark=a.spark, json_path=a.json, md_path=a.markdown, say=say,
                  only=a.stages.split(",") if a.stages else None)
    print(a.markdown.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
