"""DuckDB on a benchmark warehouse's files, and the comparison of the three engines.

    compare.py run BENCH WAREHOUSE --runs 3 --out duckdb.json --results answers/duckdb
    compare.py report BENCH RESULTS

`run` declares each table as a view over its folder of Parquet files (the files Starhouse wrote)
and times the same queries as `starbench run`: one run to warm up, then `--runs`, the median kept,
and the peak resident memory of the process over the query's runs. `report` reads
RESULTS/{starhouse,datafusion,duckdb}.json and the answers in RESULTS/answers/, checks that every
engine's answer equals DuckDB's (floats to 6 significant digits, rows in any order) and prints
the table of medians and ratios.
"""

import argparse
import csv
import datetime
import decimal
import json
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINES = ["starhouse", "datafusion", "duckdb"]
NAMES = {"starhouse": "Starhouse", "datafusion": "DataFusion", "duckdb": "DuckDB"}


def queries(bench):
    """The benchmark's queries, [(name, sql)], read as starbench reads them."""
    found = []
    with open(os.path.join(HERE, "sql", f"{bench}-queries.sql")) as f:
        for line in f:
            if line.startswith("-- Q"):
                found.append([f"Q{line[4:].strip()}", ""])
            elif found and line.strip():
                found[-1][1] += line
    return [(name, sql.strip().rstrip(";")) for name, sql in found]


def tables(bench):
    """The tables of the benchmark, from its schema file."""
    names = []
    with open(os.path.join(HERE, "sql", f"{bench}-schema.sql")) as f:
        for line in f:
            if line.startswith("CREATE TABLE "):
                names.append(line.split()[2])
    return names


def peak_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def text(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return str(value)


def run(args):
    import duckdb

    con = duckdb.connect()
    for table in tables(args.bench):
        folder = os.path.join(args.warehouse, "tables", table)
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{folder}/**/*.parquet')")
    os.makedirs(args.results, exist_ok=True)
    timings = []
    for name, sql in queries(args.bench):
        if args.query and name not in args.query:
            continue
        reset_peak()
        cursor = con.execute(sql)
        header = [d[0] for d in cursor.description]
        answer = cursor.fetchall()
        runs = []
        for _ in range(args.runs):
            start = time.perf_counter()
            con.execute(sql).fetchall()
            runs.append(round((time.perf_counter() - start) * 1000, 2))
        median = sorted(runs)[len(runs) // 2]
        peak = peak_bytes()
        print(f"{name:<6} {median:>10.1f} ms  {peak // 1_000_000:>8} MB peak  {len(answer):>6} rows", flush=True)
        with open(os.path.join(args.results, f"{name}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows([[text(v) for v in row] for row in answer])
        timings.append({"name": name, "median_ms": median, "runs_ms": runs, "peak_bytes": peak, "rows": len(answer)})
    print(f"total  {sum(t['median_ms'] for t in timings):>10.1f} ms")
    with open(args.out, "w") as f:
        json.dump(timings, f, indent=2)


def number(cell):
    try:
        return float(decimal.Decimal(cell))
    except (decimal.InvalidOperation, ValueError):
        return None


def sort_key(row):
    return tuple((0, round(n, 2), "") if (n := number(c)) is not None else (1, 0.0, c) for c in row)


def same_answer(path, reference):
    """Whether two CSV answers hold the same rows (in any order); the reason when not."""
    rows = []
    for p in (path, reference):
        with open(p, newline="") as f:
            rows.append(sorted(list(csv.reader(f))[1:], key=sort_key))
    mine, theirs = rows
    if len(mine) != len(theirs):
        return f"{len(mine)} rows, DuckDB {len(theirs)}"
    for a, b in zip(mine, theirs):
        if len(a) != len(b):
            return f"{len(a)} columns, DuckDB {len(b)}"
        for x, y in zip(a, b):
            nx, ny = number(x), number(y)
            if nx is not None and ny is not None:
                if not math.isclose(nx, ny, rel_tol=1e-6, abs_tol=1e-6):
                    return f"{x} where DuckDB has {y}"
            elif x != y:
                return f"{x!r} where DuckDB has {y!r}"
    return None


def report(args):
    timings = {}
    for engine in ENGINES:
        path = os.path.join(args.results, f"{engine}.json")
        if os.path.exists(path):
            with open(path) as f:
                timings[engine] = {t["name"]: t for t in json.load(f)}
    if "duckdb" not in timings:
        sys.exit(f"no {args.results}/duckdb.json: run DuckDB first")
    others = [e for e in ENGINES if e in timings and e != "duckdb"]
    mb = lambda t: f"{t['peak_bytes'] / 1e6:,.0f}" if t.get("peak_bytes") else "-"
    head = ["query", "DuckDB ms"]
    for e in others:
        head += [f"{NAMES[e]} ms", f"{NAMES[e]} / DuckDB"]
    head += ["peak MB (" + ", ".join(NAMES[e] for e in ["duckdb"] + others) + ")", "answers"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    totals = {e: 0.0 for e in timings}
    peaks = {e: 0 for e in timings}
    wrong = 0
    for name, _ in queries(args.bench):
        if name not in timings["duckdb"]:
            continue
        d = timings["duckdb"][name]
        cells = [name, f"{d['median_ms']:,.1f}"]
        checks = []
        for e in others:
            t = timings[e].get(name)
            if t is None:
                cells += ["-", "-"]
                continue
            cells += [f"{t['median_ms']:,.1f}", f"{t['median_ms'] / d['median_ms']:.2f}"]
            problem = same_answer(
                os.path.join(args.results, "answers", e, f"{name}.csv"),
                os.path.join(args.results, "answers", "duckdb", f"{name}.csv"),
            )
            if problem:
                wrong += 1
                checks.append(f"{e}: {problem}")
        cells.append(", ".join(mb(timings[e][name]) if name in timings[e] else "-" for e in ["duckdb"] + others))
        cells.append("; ".join(checks) or "same")
        print("| " + " | ".join(cells) + " |")
        for e in timings:
            if name in timings[e]:
                totals[e] += timings[e][name]["median_ms"]
                peaks[e] = max(peaks[e], timings[e][name].get("peak_bytes") or 0)
    cells = ["total", f"{totals['duckdb']:,.1f}"]
    for e in others:
        cells += [f"{totals[e]:,.1f}", f"{totals[e] / totals['duckdb']:.2f}"]
    cells.append(", ".join(f"{peaks[e] / 1e6:,.0f}" for e in ["duckdb"] + others))
    cells.append(f"{wrong} differ" if wrong else "all same")
    print("| " + " | ".join(cells) + " |")
    if wrong:
        sys.exit(f"{wrong} answers differ from DuckDB's")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("run")
    r.add_argument("bench", choices=["ssb", "tpch"])
    r.add_argument("warehouse")
    r.add_argument("--runs", type=int, default=3)
    r.add_argument("--out", required=True)
    r.add_argument("--results", required=True)
    r.add_argument("--query", action="append")
    p = commands.add_parser("report")
    p.add_argument("bench", choices=["ssb", "tpch"])
    p.add_argument("results")
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
