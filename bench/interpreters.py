"""Compare Python interpreters on the services' own work, both at once, one on each core.

Run: .venv/bin/python bench/interpreters.py --python /usr/bin/python3.11 \\
         --python ~/.pyenv/versions/3.11.7/bin/python3.11

Each `--python` must import the project's packages: give a virtual environment's python (`make
install PYTHON=<interpreter>` makes one; move `.venv` aside first), or a bare interpreter, in which
case this script's own environment's site-packages are added to its path (same Python minor version,
so the compiled wheels load). The work is the classifier's (classify_batch on `bench/pipeline.py`'s
mix, batches of 100) and the gateway's search index of the same posts: pure Python and numpy, the
kind of code the services spend their CPU in.

Machine speed here swings by a fifth from one minute to the next, more than the difference being
measured. So the two interpreters run at the same time, each pinned to its own core, then swap
cores; each round compares the two under the same conditions. Prints CPU ms a post per round and the
median ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ("classifier", "search-index")


def interpreter_facts() -> dict[str, Any]:
    """What makes an interpreter fast or slow: its version and whether libpython is a shared library
    (position-independent code, calls through the PLT: a plain `--enable-shared` build)."""
    with open("/proc/self/maps") as maps:
        shared = any("libpython3" in line for line in maps)
    return {
        "executable": sys.executable,
        "version": sys.version.split()[0],
        "libpython": "shared library" if shared else "linked into the binary",
    }


def run_worker(workload: str, posts: int) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # By file, not by putting bench/ on the path: bench/classifier.py would shadow the package.
    spec = importlib.util.spec_from_file_location("pipeline_mix", ROOT / "bench" / "pipeline_mix.py")
    assert spec is not None and spec.loader is not None
    pipeline_mix = importlib.util.module_from_spec(spec)
    sys.modules["pipeline_mix"] = pipeline_mix  # its dataclasses look their module up
    spec.loader.exec_module(pipeline_mix)
    build_mix = pipeline_mix.build_mix

    warm = 500
    mix, _ = build_mix(posts + warm, seed=7, prefix="i", base_time=datetime(2026, 12, 1, tzinfo=UTC))
    if workload == "classifier":
        from classifier.bundle import default_model_path  # noqa: PLC0415
        from classifier.model import PostInput, load_cached  # noqa: PLC0415

        def post_input(body: dict[str, Any]) -> PostInput:
            hints = body.get("place_hints") or {}
            return PostInput(
                text=body["text"],
                place_hint=hints.get("title"),
                hint_region=hints.get("region_code"),
                hint_city=hints.get("city"),
            )

        inputs = [post_input(p.body) for p in mix]
        model = load_cached(default_model_path())
        for start in range(0, warm, 100):
            model.classify_batch(inputs[start : start + 100])
        todo = inputs[warm:]
        started = time.process_time()
        for start in range(0, len(todo), 100):
            model.classify_batch(todo[start : start + 100])
    else:
        from api_gateway.incidents.search import index_text, warm_up  # noqa: PLC0415

        warm_up()
        texts = [p.body["text"] for p in mix]
        for text in texts[:warm]:
            index_text(text)
        todo = texts[warm:]
        started = time.process_time()
        for text in todo:
            index_text(text)
    seconds = time.process_time() - started
    return {"workload": workload, "posts": len(todo), "cpu_s": seconds, **interpreter_facts()}


def worker_command(python: str, workload: str, posts: int) -> list[str]:
    code = (
        "import site, sys, runpy\n"
        f"site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"  # a no-op when it is a venv of its own
        f"sys.argv = [{__file__!r}, '--worker', {workload!r}, '--posts', '{posts}']\n"
        f"runpy.run_path({__file__!r}, run_name='__main__')\n"
    )
    return [python, "-c", code]


def start_pinned(python: str, core: int, workload: str, posts: int) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - the interpreters the user named
        worker_command(python, workload, posts),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),  # noqa: PLW1509 - no threads started yet
    )


def finish(proc: subprocess.Popen[str], python: str) -> dict[str, Any]:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"error: {python} failed:\n{err.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", action="append", metavar="PATH", help="an interpreter (give exactly two)")
    parser.add_argument("--workload", choices=WORKLOADS, action="append", help="what to run (default: both)")
    parser.add_argument("--posts", type=int, default=4000, help="posts measured per run (%(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs both orders of cores (%(default)s)")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    parser.add_argument("--worker", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.posts)))
        return 0
    pythons = args.python or []
    if len(pythons) != 2:
        parser.error("give exactly two interpreters: --python A --python B")
    for python in pythons:
        if not os.access(python, os.X_OK):
            parser.error(f"{python}: not an executable file")
    if len(os.sched_getaffinity(0)) < 2:
        parser.error("needs two cores, one for each interpreter")
    cores = sorted(os.sched_getaffinity(0))[:2]
    first, second = pythons
    results: list[dict[str, Any]] = []
    facts: dict[str, dict[str, Any]] = {}
    for workload in args.workload or list(WORKLOADS):
        print(f"\n{workload}: {args.posts} posts a run, {args.rounds} rounds × 2 core orders")
        print("| round | cores (A, B) | A ms a post | B ms a post | B / A |")
        print("|---|---|---|---|---|")
        for round_no in range(1, args.rounds + 1):
            for core_a, core_b in ((cores[0], cores[1]), (cores[1], cores[0])):
                procs = [
                    start_pinned(first, core_a, workload, args.posts),
                    start_pinned(second, core_b, workload, args.posts),
                ]
                a, b = (finish(proc, python) for proc, python in zip(procs, pythons, strict=True))
                facts[first], facts[second] = a, b
                a_ms, b_ms = a["cpu_s"] / a["posts"] * 1e3, b["cpu_s"] / b["posts"] * 1e3
                results.append(
                    {"workload": workload, "round": round_no, "cores": [core_a, core_b], "a_ms": a_ms, "b_ms": b_ms}
                )
                print(f"| {round_no} | {core_a}, {core_b} | {a_ms:.3f} | {b_ms:.3f} | {b_ms / a_ms:.2f} |", flush=True)
        ratios = [r["b_ms"] / r["a_ms"] for r in results if r["workload"] == workload]
        print(f"median B / A: {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")
    print()
    for label, python in (("A", first), ("B", second)):
        f = facts[python]
        print(f"{label}: {python}: Python {f['version']}, libpython {f['libpython']}")
    if args.json:
        args.json.write_text(
            json.dumps({"interpreters": {"A": facts[first], "B": facts[second]}, "runs": results}, indent=2)
        )
        print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
