"""`make fidelity`: how close the simulator's twin comes to the live reference system on
each scenario of the library, after calibration.

For each scenario:

1. a **pilot** live run on other arrivals (seed + 1) at the scenario's time scale;
2. `squall calibrate` on the pilot's spans → ``twin.yaml`` (fault windows left out);
3. `squall fidelity --twin twin.yaml --replications 10` at the same time scale: the twin
   simulated, and the system live, on the scenario's own arrivals (and the twin on the
   same arrivals under nine more seeds, for its own range of each figure).

The pilot and the check are different runs: the twin is judged on arrivals it was not
fitted to. Prints one JSON line per scenario and writes ``runs/fidelity/results.json``
and ``runs/fidelity/table.md`` (the README's table). ``SCENARIOS="a b"`` picks some;
``FIDELITY_OUT`` moves the output; ``REJUDGE=1`` judges what is recorded there again
(``squall fidelity --rejudge``) without running anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: scenario → the live time scale that plays it in about three minutes on two cores —
#: but diurnal-day's, in twelve: its agents' own work is short, so at 240× the stack's
#: hops (each ~1 ms of wall time) were two thirds of its p50 latency and swung with the
#: machine by more than the tolerance; at 120× they are still over half of it
SCALES: dict[str, float] = {
    "ecommerce-peak": 4,
    "telecom-diagnostics": 10,
    "month-end-close": 30,
    "hr-delegation": 15,
    "healthcare-triage": 15,
    "doc-bursts": 20,
    "diurnal-day": 120,
    "support-day": 8,
    "mmc": 20,
}
#: the twin's runs per scenario (its own arrivals and REPLICATIONS − 1 others): the range
#: each figure takes in the twin itself, against which a live figure is judged too
REPLICATIONS = 10


def squall(*args: str, log: Path) -> int:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ squall {' '.join(args)}\n")
        out.flush()
        return subprocess.run([sys.executable, "-m", "harness.cli.main", *args], stdout=out,
                              stderr=subprocess.STDOUT, check=False, cwd=ROOT).returncode


def one(name: str, k: float, base: Path) -> dict[str, Any]:
    scenario = ROOT / "scenarios" / f"{name}.yaml"
    out = base / name
    out.mkdir(parents=True, exist_ok=True)
    log = out / "log.txt"
    log.write_text("")
    seed = _seed(scenario)
    started = time.monotonic()
    pilot = squall("run", str(scenario), "--mode", "live", "--time-scale", f"{k:g}",
                   "--seed", str(seed + 1), "--out", str(out / "pilot"), "--overwrite",
                   "--no-report", "-q", log=log)
    result: dict[str, Any] = {"scenario": name, "time_scale": k, "pilot_exit": pilot}
    if pilot == 3 and _verdict(out / "pilot") == "none":
        pilot = 0  # a scenario without gates (mmc) has no verdict, and that is all
    if pilot not in (0, 1):
        result["verdict"] = "pilot inconclusive"
        return result
    cal = squall("calibrate", str(out / "pilot"), "-o", str(out / "twin.yaml"), "--overwrite",
                 "--json", str(out / "fits.json"), log=log)
    if cal != 0:
        result["verdict"] = f"calibrate exited {cal}"
        return result
    code = squall("fidelity", str(scenario), "--twin", str(out / "twin.yaml"),
                  "--time-scale", f"{k:g}", "--out", str(out / "check"), "--overwrite",
                  "--replications", str(REPLICATIONS), log=log)
    result["wall_s"] = round(time.monotonic() - started)
    return _judged(result, code, out)


def rejudge(name: str, k: float, base: Path, before: dict[str, Any]) -> dict[str, Any]:
    """The comparison recorded for ``name`` judged again (``REJUDGE=1``): nothing runs."""
    out = base / name
    if not (out / "check" / "live").is_dir():
        return {**before, "scenario": name, "time_scale": k,
                "verdict": "nothing recorded to judge again"}
    code = squall("fidelity", str(ROOT / "scenarios" / f"{name}.yaml"), "--twin",
                  str(out / "twin.yaml"), "--out", str(out / "check"), "--rejudge",
                  log=out / "log.txt")
    kept = {key: before[key] for key in ("pilot_exit", "wall_s") if key in before}
    return _judged({"scenario": name, "time_scale": k, **kept}, code, out)


def _judged(result: dict[str, Any], code: int, out: Path) -> dict[str, Any]:
    result["fidelity_exit"] = code
    path = out / "check" / "fidelity.json"
    if not path.exists():
        result["verdict"] = f"fidelity exited {code}"
        return result
    data = json.loads(path.read_text())
    result["verdict"] = data.get("verdict")
    result["doubts"] = data.get("doubts", [])
    stack = data.get("stack")
    p50 = next((c["sim"] for c in data["checks"] if c["check"] == "latency.p50"), None)
    if stack and p50:  # how far the machine's own speed moved since the pilot
        result["stack_shift"] = stack["shift_s"] / p50
    result["checks"] = {c["check"]: {k2: c.get(k2) for k2 in
                                    ("sim", "live", "difference", "passed", "status",
                                     "twin_range", "within_twin_range")}
                        for c in data["checks"]}
    return result


def _verdict(run: Path) -> str | None:
    try:
        return str(json.loads((run / "summary.json").read_text())["verdict"])
    except (OSError, ValueError, KeyError):
        return None


def _seed(path: Path) -> int:
    from harness.scenario.loader import load_scenario

    return load_scenario(path).seed


def _cell(result: dict[str, Any], family: str) -> str:
    checks = result.get("checks") or {}
    found = {n: c for n, c in checks.items() if n == family or n.startswith(family + ".")}
    if not found:
        return "–"
    cells = []
    for name, c in found.items():
        sim, live = c["sim"], c["live"]
        mark = {"within": "✓", "unresolved": "~", "outside": "✗"}[c["status"]]
        if sim is None or live is None:
            cells.append(f"{mark} one engine only")
        elif family == "attainment":
            cells.append(f"{mark} {100 * (live - sim):+.2f} pt")
        elif family == "recovery":
            label = name.split(".", 1)[1]
            band = c.get("twin_range")
            inside = ""
            if band:
                hi = "never" if band[1] is None else f"{band[1]:.0f}"
                inside = (f" (twin {band[0]:.0f}–{hi} s: live "
                          f"{'inside' if c.get('within_twin_range') else 'outside'})")
            cells.append(f"{mark} {label} {sim:.0f}/{live:.0f} s{inside}")
        else:
            gap = (live - sim) / sim if sim else 0.0
            cells.append(f"{mark} {100 * gap:+.1f}%")
    return "<br>".join(cells)


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| scenario | K | p95 latency (live vs twin) | attainment | recovery (twin/live) "
             "| cost | stack drift | verdict |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        drift = r.get("stack_shift")
        lines.append(f"| {r['scenario']} | {r['time_scale']:g}× | {_cell(r, 'latency.p95')} | "
                     f"{_cell(r, 'attainment')} | {_cell(r, 'recovery')} | "
                     f"{_cell(r, 'cost.total_usd')} | "
                     f"{'–' if drift is None else f'{100 * drift:+.1f}% of p50'} | "
                     f"{r.get('verdict')} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    base = Path(os.environ.get("FIDELITY_OUT", ROOT / "runs" / "fidelity"))
    base.mkdir(parents=True, exist_ok=True)
    names = os.environ.get("SCENARIOS", "").split() or list(SCALES)
    unknown = [n for n in names if n not in SCALES]
    if unknown:
        print(f"unknown scenarios: {', '.join(unknown)}; known: {', '.join(SCALES)}",
              file=sys.stderr)
        return 2
    done = base / "results.json"
    # a run of some scenarios replaces theirs and keeps the others' (in the library's order)
    kept = {r["scenario"]: r for r in json.loads(done.read_text())} if done.exists() else {}
    again = os.environ.get("REJUDGE") == "1"
    for name in names:
        kept[name] = rejudge(name, SCALES[name], base, kept.get(name, {})) if again \
            else one(name, SCALES[name], base)
        print(json.dumps(kept[name]), flush=True)
        results = [kept[n] for n in SCALES if n in kept]
        done.write_text(json.dumps(results, indent=1) + "\n")
        (base / "table.md").write_text(table(results))
    print(table([kept[n] for n in SCALES if n in kept]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
