"""Benchmark: `starter.py preview` of a generated month, end to end, against a naive rater.

    .venv/bin/python bench/preview.py [--tickets 20000] [--entries 100000] [--parts 10000]
                                      [--repeat 3] [--keep DIR] [--one-process-too]

Writes the generated book and events file (bench/rating.py's month) to a temporary folder, then
runs, as subprocesses on the same files, alternately ``--repeat`` times each:

- ours: ``starter.py preview --book B --events E > ours.json``;
- naive: ``bench/naive_preview.py B E > naive.json`` (plain json and Decimal, SPEC §4 straight);
- with ``--one-process-too``, ours again with ``--processes 1`` (ours-1p), which must print the
  same bytes as ours.

With ``--floor`` it also measures, after the runs, what any preview in Python pays before it
rates anything, each the median of ``--repeat`` fresh processes: starting (ours on an empty
events file: the interpreter, our imports, the book), reading every event line with orjson (no
checks), creating the values our output is made of (2.3 million for the default month), and
writing them with orjson. Creating is given as a range: orjson parsing our output also scans the
text (an upper bound); pickle loading the same values, the collector paused as our preview
pauses it, shares every repeated object (a lower bound). Issue 17 asked for 3× the naive
rater; the floor says how much of that time is left for folding and rating.

Each run's wall time and peak RSS are recorded (the naive rater's own ``ru_maxrss``, from
``os.wait4``; ours, its own plus that of the process it may fork: see ``run_child``).
The medians are reported, and the ratio naive time ÷ our time (issue 17's target: at least 3,
with a peak RSS under 300 MiB). Before reporting, it checks that both found the same tickets,
in the same order, with the same totals and statuses; otherwise it exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from rating import generated_book_text, generated_events  # noqa: E402


def write_month(folder: Path, tickets: int, entries: int, parts: int) -> tuple[Path, Path]:
    book = folder / "book.toml"
    book.write_text(generated_book_text(), encoding="utf-8")
    events = folder / "events.jsonl"
    with events.open("w", encoding="utf-8") as out:
        for event in generated_events(tickets, entries, parts):
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    return book, events


def run_child(argv: list[str], output: Path, rss_report: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process writing to ``output``.

    With ``rss_report`` the child is ``RSS_REPORTING`` (below) and the peak RSS is its own plus
    that of the largest process it forked and waited for: the kernel only reports the larger
    of the two, and the pages a fork shares count twice, so the sum overstates, never hides."""
    with output.open("wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen(argv, cwd=REPO, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with status {child.returncode}")
    if rss_report is not None:
        own, forked = (int(kib) for kib in rss_report.read_text().split())
        return elapsed, (own + forked) / 1024
    return elapsed, usage.ru_maxrss / 1024


# Runs a script (argv[2:]) in this interpreter, then writes its peak RSS and that of its largest
# waited-for child (KiB) to the file argv[1]: `starter.py preview` may fork a second rater.
RSS_REPORTING = """
import resource, runpy, sys
report, sys.argv = sys.argv[1], sys.argv[2:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    with open(report, "w") as out:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        forked = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out.write(f"{own} {forked}")
"""


# Times, in one fresh process, the parts of a preview that rate nothing (``--floor``):
# argv[1] the events file, argv[2] our output. Prints four figures in seconds.
FLOOR = """
import gc, pickle, sys, time, orjson
started = time.perf_counter()
with open(sys.argv[1], "rb") as lines:
    for line in lines:
        orjson.loads(line)
read = time.perf_counter()
text = open(sys.argv[2], "rb").read()
loaded = time.perf_counter()
document = orjson.loads(text)
created = time.perf_counter()
written = orjson.dumps(document, option=orjson.OPT_INDENT_2)
dumped = time.perf_counter()
assert written + b"\\n" == text, "orjson does not give back our output's bytes"
pickled = pickle.dumps(document, protocol=5)
del document, written
gc.disable()
unpickling = time.perf_counter()
pickle.loads(pickled)
unpickled = time.perf_counter()
print(read - started, created - loaded, dumped - created, unpickled - unpickling)
"""


def floor_figures(book: Path, events: Path, output: Path, repeat: int) -> dict[str, float]:
    """Medians, in seconds, of what a preview pays before rating (see ``FLOOR``)."""
    empty = events.with_name("empty.jsonl")
    empty.write_bytes(b"")
    start_argv = ["starter.py", "preview", "--book", str(book), "--events", str(empty)]
    starts: list[float] = []
    parts: list[list[float]] = []
    for _ in range(repeat):
        starts.append(run_child([sys.executable, *start_argv], events.with_name("empty.json"))[0])
        measured = subprocess.run(
            [sys.executable, "-c", FLOOR, str(events), str(output)],
            cwd=REPO, check=True, capture_output=True, text=True,
        )  # fmt: skip
        parts.append([float(figure) for figure in measured.stdout.split()])
    return {
        "start": statistics.median(starts),
        "read": statistics.median(p[0] for p in parts),
        "create": statistics.median(p[1] for p in parts),
        "write": statistics.median(p[2] for p in parts),
        "create_at_least": statistics.median(p[3] for p in parts),
    }


def same_totals(ours: Path, naive: Path) -> list[str]:
    """Where the two outputs disagree on a ticket, its total or its status (empty: agreed)."""
    mine = [
        (t["ticket_id"], t["chargeable_total"], t["status"])
        for t in json.loads(ours.read_bytes())["tickets"]
    ]
    theirs = [
        (t["ticket_id"], t["chargeable_total"], t["status"])
        for t in json.loads(naive.read_bytes())["tickets"]
    ]
    if len(mine) != len(theirs):
        return [f"{len(mine)} tickets in ours, {len(theirs)} in the naive rater's"]
    return [f"ours {a} ≠ naive {b}" for a, b in zip(mine, theirs, strict=True) if a != b]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--parts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (medians reported)")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    parser.add_argument(
        "--one-process-too",
        action="store_true",
        help="also run ours with --processes 1 (alternating with the others; ours-1p)",
    )
    parser.add_argument(
        "--floor", action="store_true", help="also measure what a preview pays before rating"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-preview-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        book, events = write_month(folder, args.tickets, args.entries, args.parts)
        size = events.stat().st_size / 2**20
        print(
            f"generated {args.tickets:,} tickets, {args.entries:,} time entries, "
            f"{args.parts:,} parts: {events} ({size:.1f} MiB)"
        )
        rss_report = folder / "ours.rss"
        ours_argv = [
            sys.executable, "-c", RSS_REPORTING, str(rss_report),
            "starter.py", "preview", "--book", str(book), "--events", str(events),
        ]  # fmt: skip
        naive_argv = [sys.executable, str(BENCH / "naive_preview.py"), str(book), str(events)]
        runners = [("ours", ours_argv), ("naive", naive_argv)]
        if args.one_process_too:
            runners.append(("ours-1p", [*ours_argv, "--processes", "1"]))
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in runners}
        for run in range(args.repeat):
            for name, argv in runners:
                report = rss_report if name.startswith("ours") else None
                seconds, rss = run_child(argv, folder / f"{name}.json", report)
                figures[name].append((seconds, rss))
                print(f"  run {run + 1} {name:<7} {seconds:6.2f} s  peak RSS {rss:5.0f} MiB")

        if (
            args.one_process_too
            and (folder / "ours.json").read_bytes() != (folder / "ours-1p.json").read_bytes()
        ):
            raise SystemExit("ours printed other bytes with --processes 1")
        disagreements = same_totals(folder / "ours.json", folder / "naive.json")
        if disagreements:
            print("the naive rater disagrees with ours:", *disagreements[:10], sep="\n  ")
            raise SystemExit(1)
        floor = (
            floor_figures(book, events, folder / "ours.json", args.repeat) if args.floor else None
        )

    medians = {
        name: (
            statistics.median(s for s, _ in runs),
            statistics.median(r for _, r in runs),
        )
        for name, runs in figures.items()
    }
    for name, (seconds, rss) in medians.items():
        print(f"{name:<8} median {seconds:6.2f} s   peak RSS {rss:5.0f} MiB")
    ratio = medians["naive"][0] / medians["ours"][0]
    print(
        f"same tickets, totals and statuses; ours runs at {ratio:.2f}× the naive rater's speed "
        f"(target ≥ 3), peak RSS {medians['ours'][1]:.0f} MiB (target < 300)"
    )
    if floor is not None:
        target = medians["naive"][0] / 3
        least, most = (
            floor["start"] + (floor["read"] + created + floor["write"]) / 2
            for created in (floor["create_at_least"], floor["create"])
        )
        print(
            f"before rating anything: start {floor['start']:.2f} s (a preview of an empty file), "
            f"reading the events {floor['read']:.2f} s, creating the output's values "
            f"{floor['create_at_least']:.2f}–{floor['create']:.2f} s, writing them "
            f"{floor['write']:.2f} s (one process)"
        )
        print(
            f"3× the naive rater is {target:.2f} s; with the work shared by two processes "
            f"perfectly, the floor is {least:.2f}–{most:.2f} s, before folding or rating"
        )


if __name__ == "__main__":
    main()
