"""The push sections of scale.py: the scale table (fresh pushes and installs), history
independence and incremental instances. See benchmarks/README.md."""

from __future__ import annotations

import hashlib
import os
import statistics
import timeit

from scale_bench import Bench
from scale_report import (HISTORY_GOAL, INCREMENTAL_GOAL, ORIGINAL, PREVIOUS, TABLE_FIGURES, TABLE_GOALS,
                          cpu_shares, heading, mib, rate, ratio, seconds, table)
from scale_stack import HISTORY_OWNER, OWNER, kib_files, small_files


def section_table(bench: Bench) -> None:
    heading(f"Scale table (owner {OWNER} stores {bench.stored(OWNER):,} objects before)")
    print(f"machine probe (SHA-256 of 64 MiB) {machine_probe() * 1000:.0f} ms", flush=True)
    measured = {}
    for n in bench.args.fragments:
        result = bench.measured_push(OWNER, f"fresh{n}", small_files(n))
        bench.fresh[n] = result
        installs = []
        for _ in range(3):  # the median of three
            elapsed, response = bench.install(OWNER, result["name"], result["top_hash"])
            installs.append(elapsed)
        assert len(response.json()["sizes"]) == n
        del response
        result["install"] = statistics.median(installs)
        result["loop"] = bench.install_loop(OWNER, result["name"], result["top_hash"], bench.args.loop_seconds)
        measured[n] = result
        print(f"N={n:,}: dry {seconds(result['dry'])} s, upload of {result['uploaded']:,} fragments "
              f"{seconds(result['upload'])} s (not in the table), put {seconds(result['put'])} s, install "
              f"{seconds(result['install'])} s (median of {', '.join(seconds(x) for x in installs)}), loop {rate(result['loop'])} req/s, worker RSS peak {mib(result['rss'])} "
              f"(VmHWM {mib(result['hwm'])}); CPU during the real PUT: {cpu_shares(result['put_cpu'])}, InnoDB "
              f"data-file fsyncs {result['put_fsyncs']}", flush=True)
    rows = []
    for key, label, unit in TABLE_FIGURES:
        for n, result in measured.items():
            value = result[key]
            original, previous = ORIGINAL.get(n, {}).get(key), PREVIOUS.get(n, {}).get(key)
            goal_text, goal = TABLE_GOALS.get(n, {}).get(key, ("—", None))
            if unit == "s":
                shown, speedup = seconds(value), original and original / value
            elif unit == "req/s":
                shown, speedup = rate(value), original and value / original
            else:
                shown, speedup = mib(value), None
            ok = goal(value) if goal else None
            rows.append([f"{label} ({unit if unit != 'bytes' else 'MiB'})", f"{n:,}", f"{original:g}" if original else "—",
                         f"{previous:g}" if previous else "—", shown, ratio(speedup), goal_text,
                         "—" if ok is None else "PASS" if ok else "MISS"])
            bench.summary.add("table", f"{label}, N={n:,}", f"{shown} {unit if unit != 'bytes' else ''}".strip(),
                              goal_text, ok, f"{original:g} {unit}" if original else "—")
    table(["figure", "N", "original", "previous", "ours", "speed-up vs original", "goal", "result"], rows)


HISTORY_FRAGMENTS = 110_000  # fragments pushed per size and level, at most: smaller pushes are timed more often


def history_repeats(repeat: int, n: int) -> int:
    """Pushes timed per size and level: `repeat`, or as many as make up HISTORY_FRAGMENTS
    fragments, up to 15 (so 15 of 1,000 and 11 of 10,000). The times of a push cluster around two
    values a third apart (25 or 35 ms for the dry run of 1,000 files, 0.38 or 0.53 s for the
    real PUT of 10,000): the median of 3, then of 5, 7 or 9, moved by a fifth between runs."""
    return max(repeat, min(15, HISTORY_FRAGMENTS // n))


def machine_probe() -> float:
    """Seconds for SHA-256 over 64 MiB, the best of three: printed before the table and before the
    history pushes, it shows when the machine itself got faster or slower (it does, by a third)."""
    data = bytes(64 * 2**20)
    return min(timeit.repeat(lambda: hashlib.sha256(data).digest(), number=1, repeat=3))


def mean_cpu(pushes: list[dict]) -> dict[str, float]:
    return {part: statistics.mean(r["put_cpu"][part] for r in pushes) for part in pushes[0]["put_cpu"]}


def section_history(bench: Bench) -> None:
    """The same pushes by owners who store 0, 50,000 and 500,000 objects, interleaved: on a
    machine whose speed drifts by a fifth within minutes, levels timed one after the other
    (as this section did until 12-07) measured the drift as much as the history."""
    levels, sizes = bench.args.history_levels, bench.args.history_pushes
    heading(f"History independence (owners storing {', '.join(f'{x:,}' for x in levels)} objects; pushes interleaved)")
    before = {n: history_round(bench, [0], n, "before")[0] for n in sizes} if 0 in levels else {}
    owners = {level: bench.add_user(f"{HISTORY_OWNER}{level}") for level in levels if level}
    for level, owner in owners.items():
        bench.seed(owner, level)  # then waits for MariaDB and SeaweedFS to settle
    bench.settle()
    print(f"registry: {bench.stored():,} objects in all; machine probe (SHA-256 of 64 MiB) "
          f"{machine_probe() * 1000:.0f} ms", flush=True)
    results = {n: history_round(bench, levels, n, "after", owners) for n in sizes}
    rows = []
    for n in sizes:
        for level in levels:
            pushes = results[n][level]
            dry, put = _medians(pushes)
            rows.append([f"{level:,}", _stored_range(pushes), f"{n:,}", seconds(dry), seconds(put), seconds(dry + put),
                         cpu_shares(mean_cpu(pushes)), f"{statistics.mean(r['put_fsyncs'] for r in pushes):.1f}"])
    table(["history level", "owner's objects before the push", "push N (1 KiB)", "dry run (s, median)",
           "real PUT (s, median)", "total (s)", "CPU per real PUT", "InnoDB data-file fsyncs per real PUT"], rows)
    for n, pushes in before.items():
        dry, put = _medians(pushes)
        after_dry, after_put = _medians(results[n][0])
        print(f"Not a goal: a new owner's push of {n:,} before the other owners' objects were seeded took "
              f"{seconds(dry)} + {seconds(put)} s, after {seconds(after_dry)} + {seconds(after_put)} s "
              f"({(after_dry + after_put) / (dry + put):.2f}x: the registry's whole size and the machine's drift)")
    if len(levels) < 2:
        return
    rows = []
    for n in sizes:
        for label, pick in (("dry run", lambda r: r[0]), ("real PUT", lambda r: r[1]), ("dry + real", sum)):
            values = [pick(_medians(results[n][level])) for level in levels]
            spread = max(values) / min(values)
            ok = spread < HISTORY_GOAL
            rows.append([f"{n:,}", label, " / ".join(seconds(v) for v in values), ratio(spread), f"< {HISTORY_GOAL}",
                         "PASS" if ok else "MISS"])
            bench.summary.add("history", f"{label}, push of {n:,}, max/min over H={'/'.join(f'{x:,}' for x in levels)}",
                              ratio(spread), f"< {HISTORY_GOAL}", ok)
    table(["push N", "figure", "seconds per level", "max/min", "goal", "result"], rows)


def history_round(bench: Bench, levels: list[int], n: int, when: str,
                  owners: dict[int, str] | None = None) -> dict[int, list[dict]]:
    """Pushes of n fresh 1 KiB files at each level in turn, the first level rotating, repeated
    (see history_repeats). Level 0 is a new owner for every push. Each timed push follows an
    untimed one-file push by the same owner, so that every owner's token and first request are
    served alike."""
    owners = owners or {}
    stored = {level: bench.stored(owner) for level, owner in owners.items()}
    pushes: dict[int, list[dict]] = {level: [] for level in levels}
    for k in range(history_repeats(bench.args.history_repeat, n)):
        for level in levels[k % len(levels):] + levels[:k % len(levels)]:
            owner = owners.get(level) or bench.add_user(f"{HISTORY_OWNER}{when}{n}x{k}")
            bench.push(owner, f"w{level}_{n}_{k}", kib_files(1))
            result = bench.push(owner, f"h{level}_{n}_{k}", kib_files(n))
            result["stored"] = stored.get(level, 0) + 1  # with the untimed push's file
            if level in owners:
                stored[level] = result["stored"] + n
            pushes[level].append(result)
    for level, done in pushes.items():
        dry, put = _medians(done)
        print(f"{when} seeding, H={level:,} N={n:,}: dry {seconds(dry)} s, put {seconds(put)} s (median of {len(done)}: "
              f"dry {', '.join(seconds(r['dry']) for r in done)}; put {', '.join(seconds(r['put']) for r in done)})",
              flush=True)
    return pushes


def _medians(pushes: list[dict]) -> tuple[float, float]:
    return statistics.median(r["dry"] for r in pushes), statistics.median(r["put"] for r in pushes)


def _stored_range(pushes: list[dict]) -> str:
    low, high = min(r["stored"] for r in pushes), max(r["stored"] for r in pushes)
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


CHANGE_PUSHES = 3  # pushes of changes measured in a row; one alone varies by a fifth


def section_incremental(bench: Bench) -> None:
    n = max(bench.args.fragments)
    heading(f"Incremental instance (a new instance of a {n:,}-fragment package, 10 fragments replaced)")
    fresh = bench.fresh_push(n)
    files = replaced(fresh["files"])
    new = {hashlib.sha256(data).hexdigest() for path, data in files.items() if data != fresh["files"][path]}
    result = bench.measured_push(OWNER, fresh["name"], files, upload=new)
    print(f"(pushing a fresh package of {n:,} fragments as our SDK does, then 10 replaced as its changes)", flush=True)
    sdk_fresh = bench.measured_push(OWNER, f"sdk{n}", small_files(n, prefix="s"), sdk=True)
    revisions, base = [], sdk_fresh
    for _ in range(CHANGE_PUSHES):  # each replaces 10 more files of the one before
        base = bench.measured_push(OWNER, f"sdk{n}", replaced(base["files"]), sdk=True, base=base)
        revisions.append(base)
    print("SDK pushes of changes, server time each: "
          + ", ".join(seconds(r["dry"] + r["put"]) for r in revisions) + " s (the median one is shown)")
    changes = sorted(revisions, key=lambda r: r["dry"] + r["put"])[len(revisions) // 2]
    pushes = (("quilt 2.9.15 protocol: fresh push", fresh), ("quilt 2.9.15 protocol: incremental push", result),
              ("SDK: fresh push", sdk_fresh), ("SDK: push of the changes", changes))
    rows = []
    for label, push in pushes:
        changed = ", ".join(f"{t} {r:+,}" for t, (r, _) in sorted(push["delta"].items()) if r)
        rows.append([label, seconds(push["dry"]), seconds(push["put"]), seconds(push["dry"] + push["put"]),
                     f"{push['rows']:,}", mib(push["bytes"]), changed])
    table(["push", "dry run or push plan (s)", "real PUT (s)", "server time (s)", "new rows", "new bytes",
           "rows per table"], rows)
    print("Server time is the two requests' time as the client sees it (dry run or push plan, then the PUT).")
    for protocol, ours, base in (("quilt 2.9.15 protocol", result, fresh), ("SDK, changes", changes, sdk_fresh),
                                 ("SDK changes vs the quilt fresh push", changes, fresh)):
        for label, mine, theirs, fmt in (
                ("server time", ours["dry"] + ours["put"], base["dry"] + base["put"], seconds),
                ("new database rows", ours["rows"], base["rows"], lambda v: f"{v:,}"),
                ("new database bytes", ours["bytes"], base["bytes"], mib)):
            share = mine / theirs if theirs else float("inf")
            ok = share <= INCREMENTAL_GOAL
            print(f"{protocol}, {label}: incremental {fmt(mine)} vs fresh {fmt(theirs)} = {share:.1%} "
                  f"(goal <= 10%): {'PASS' if ok else 'MISS'}")
            bench.summary.add("incremental", f"{protocol}: {label}, incremental / fresh ({n:,} fragments, 10 new)",
                              f"{share:.1%}", "<= 10%", ok)


def replaced(files: dict[str, bytes]) -> dict[str, bytes]:
    """`files` with 10 of them, spread over the package, given new bytes."""
    paths = list(files)[:: max(1, len(files) // 10)][:10]
    return {**files, **{path: os.urandom(8 + i % 93) for i, path in enumerate(paths)}}
