"""GH Archive reduction cost: events/s per core, and the projected core-hours for 2015-01..2023-10.

Hour files are simulated from the Events API schema (`tests/github/gharchive_hours.World` with
`rich=True`: commit messages, issue and pull request bodies, full repository objects, the event mix
of a busy hour: about half pushes, then creates, watches, comments, pull requests, forks), gzipped
as GH Archive gzips them, and read from a local folder by the build's own `HourSource` into one
`HourReducer`, timed in CPU seconds of the process (what "per core" means on a shared machine).
The floor beside it is only gunzip + line split of the same files.

The projection multiplies the measured cost per compressed byte by the archive's compressed size.
Real hour sizes used (compressed bytes of the 15:00 UTC hour of March 1 of each year, published by
a reader who downloaded them: defgsus.github.io/blog/2021/11/12/gharchive-first-post.html):
2015 6.4 MB, 2016 21.3 MB, 2017 26.0 MB, 2018 37.6 MB, 2019 42.6 MB, 2020 35.5 MB, 2021 104.5 MB.
2022 and 2023 are not in that sample: both are ESTIMATED as 2021's size (activity has not shrunk
since). 15:00 UTC is one of the day's busiest hours, so sizes x hours is an upper bound, and one
hour a year is a thin sample: read the total as an order of magnitude. Synthetic events compress
differently from real ones, so the cost per compressed byte carries that uncertainty too; the
events/s figure does not.

    .venv/bin/python benchmarks/bench_gharchive.py              # 3 hours x 20,000 events
    .venv/bin/python benchmarks/bench_gharchive.py --hours 6 --events 40000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.github.gharchive_events import HourReducer
from corpus.github.gharchive_source import GzipLines, HourSource
from tests.github.gharchive_hours import World, file_name, hour_bytes

#: compressed bytes of 2015-..-03-01-15.json.gz per year (see the module docstring); 2022, 2023 estimated
SAMPLE_HOUR_BYTES = {
    2015: 6_365_599,
    2016: 21_268_062,
    2017: 25_974_997,
    2018: 37_577_449,
    2019: 42_593_332,
    2020: 35_538_137,
    2021: 104_531_294,
    2022: 104_531_294,  # estimate
    2023: 104_531_294,  # estimate
}


def hours_in(year: int) -> int:
    start = datetime(year, 1, 1)
    end = datetime(2023, 11, 1) if year == 2023 else datetime(year + 1, 1, 1)
    return int((end - start).total_seconds() // 3600)


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=int, default=3)
    parser.add_argument("--events", type=int, default=20_000, help="events per hour")
    args = parser.parse_args()

    start = datetime(2023, 3, 1, 12)
    world = World(seed=3, start=start, repos=5000, rich=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-gharchive-"))
    compressed = raw = 0
    for i in range(args.hours):
        data = hour_bytes(world.hour(i, args.events))
        (folder / file_name(start + timedelta(hours=i))).write_bytes(data)
        compressed += len(data)
    hours = [start + timedelta(hours=i) for i in range(args.hours)]

    t0 = cpu()
    lines = 0
    for hour in hours:
        with open(folder / file_name(hour), "rb") as fh:
            for line in GzipLines(fh):
                lines += 1
                raw += len(line) + 1
    floor_s = cpu() - t0

    source = HourSource(str(folder))
    reducer = HourReducer()
    t0 = cpu()
    for hour in hours:
        source.read(hour, reducer)
    reduce_s = cpu() - t0
    assert reducer.events == lines, (reducer.events, lines)

    events_s = reducer.events / reduce_s
    gz_bps = compressed / reduce_s
    print(
        f"synthetic hours: {args.hours} x {args.events:,} events, {compressed / 1e6:.1f} MB gzipped, "
        f"{raw / 1e6:.1f} MB JSON (ratio {raw / compressed:.1f}), {raw / lines:,.0f} B/event"
    )
    print(f"gunzip + split only: {lines / floor_s:,.0f} events/s per core ({floor_s:.2f} s CPU)")
    print(
        f"reduction:           {events_s:,.0f} events/s per core, {gz_bps / 1e6:.1f} MB/s gzipped, "
        f"{raw / reduce_s / 1e6:.1f} MB/s JSON ({reduce_s:.2f} s CPU, {len(reducer.states):,} repositories)"
    )

    total = sum(SAMPLE_HOUR_BYTES[y] * hours_in(y) for y in SAMPLE_HOUR_BYTES)
    files = sum(hours_in(y) for y in SAMPLE_HOUR_BYTES)
    core_h = total / gz_bps / 3600
    print(
        f"2015-01..2023-10: {files:,} hour files, about {total / 1e12:.1f} TB gzipped (upper bound from "
        "published one-hour-a-year sizes; 2022-2023 estimated)"
    )
    print(
        f"projected reduction: {core_h:,.0f} core-hours ({core_h / 64:,.1f} h on 64 cores); "
        f"the list stage merges partials at a small fraction of that"
    )
    by_year = ", ".join(
        f"{y}: {SAMPLE_HOUR_BYTES[y] * hours_in(y) / gz_bps / 3600:,.0f}" for y in SAMPLE_HOUR_BYTES
    )
    print(f"core-hours by year: {by_year}")
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
