"""``squall fidelity``: both engines on the same arrivals, each figure within its
tolerance; and the tolerance arithmetic itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.calibrate.stack import STACK_DRIFT, StackDrift
from harness.fidelity import (
    Check,
    Fidelity,
    Tolerance,
    parse_tolerance,
    tolerance_for,
    twin_range,
)
from harness.records.reader import read_run
from harness.scenario.model import StackHop
from tests.harness.live.test_live_run import SCENARIO, squall, tmp_env

finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(finite, finite, st.floats(0, 2), st.floats(0, 100))
def test_a_check_passes_exactly_when_the_gap_is_within_the_larger_bound(
        sim: float, live: float, rel: float, absolute: float) -> None:
    check = Check("x", sim, live, Tolerance(relative=rel, absolute=absolute))
    assert check.passed == (abs(live - sim) <= max(rel * abs(sim), absolute) + 1e-12)


def test_one_engine_seeing_what_the_other_did_not_fails_and_neither_passes() -> None:
    tol = Tolerance(relative=0.2, absolute=5)
    assert not Check("recovery.f", 12.0, None, tol).passed  # live never recovered
    assert not Check("recovery.f", None, 12.0, tol).passed
    assert Check("recovery.f", None, None, tol).passed  # both never recovered
    assert Check("replicas.a", 4.0, 3.0, Tolerance(relative=0.1, absolute=0.5), gap=0.4).passed


@given(finite, finite, finite, finite)
def test_a_miss_inside_the_twins_own_range_is_unresolved_and_only_then(
        sim: float, live: float, a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    tol = Tolerance(relative=0.1)
    check = Check("latency.p95", sim, live, tol, spread=(lo, hi))
    inside = lo - 1e-12 <= live <= hi + 1e-12  # the rounding the check allows
    assert check.status == ("within" if check.passed else
                            "unresolved" if inside else "outside")
    assert Check("latency.p95", sim, live, tol).status in ("within", "outside")  # no range


def test_the_verdict_fails_on_a_miss_outside_both_and_is_inconclusive_on_unresolved() -> None:
    tol = Tolerance(relative=0.1)
    within = Check("latency.p95", 10.0, 10.5, tol, spread=(9.0, 12.0))
    unresolved = Check("recovery.crash", 120.0, 270.0, tol, spread=(120.0, 450.0))
    outside = Check("latency.p99", 10.0, 20.0, tol, spread=(9.0, 12.0))
    never = Check("recovery.storm", 300.0, None, tol, spread=(240.0, float("inf")))
    assert never.status == "unresolved"  # the twin, too, sometimes never recovers
    assert Check("recovery.storm", 300.0, None, tol, spread=(240.0, 600.0)).status == "outside"

    def verdict(*checks: Check, doubts: tuple[str, ...] = ()) -> str:
        return Fidelity(list(checks), Path("s"), Path("l"), list(doubts)).verdict.value

    assert verdict(within) == "pass"
    assert verdict(within, unresolved, never) == "inconclusive"
    assert verdict(within, unresolved, outside) == "fail"
    assert verdict(within, doubts=("the load generator fell behind",)) == "inconclusive"


@pytest.mark.parametrize(("text", "name", "tol"), [
    ("latency.p95=15%", "latency.p95", Tolerance(relative=0.15)),
    ("attainment=0.03", "attainment", Tolerance(absolute=0.03)),
    ("recovery=20%,5s", "recovery", Tolerance(relative=0.2, absolute=5.0)),
    ("recovery.slow=1m", "recovery.slow", Tolerance(absolute=60.0)),
])
def test_tolerances_parse(text: str, name: str, tol: Tolerance) -> None:
    assert parse_tolerance(text) == (name, tol)


@pytest.mark.parametrize("text", ["latency.p95", "=5%", "x=fast", "x=-5%", "x="])
def test_a_bad_tolerance_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"NAME=VALUE|percentage|zero or more"):
        parse_tolerance(text)


@given(st.sampled_from(["recovery.slow-llm", "latency.p95", "errors.timeout",
                        "replicas.a", "attainment"]),
       st.sampled_from([0.0, 1.0, 10.0, 60.0]), st.sampled_from([None, 0.0, 5.0, 30.0]))
def test_a_recovery_is_never_judged_finer_than_the_window_it_is_read_on(
        name: str, window: float, given_abs: float | None) -> None:
    tolerances = {} if given_abs is None else {name: Tolerance(0.2, given_abs)}
    plain = tolerance_for(name, tolerances)
    got = tolerance_for(name, tolerances, window)
    if name.startswith("recovery."):
        assert got.absolute == max(plain.absolute or 0.0, window)
        assert got.relative == plain.relative
        # two recoveries one window apart: within, whatever the percentage says
        assert Check(name, 20.0, 20.0 + window, got).passed
    else:
        assert got == plain


figure = st.floats(0, 1e4, allow_nan=False)


@given(st.lists(figure, min_size=1, max_size=12), st.booleans(), st.booleans())
def test_the_twins_range_holds_its_runs_within_the_figures_bounds(
        values: list[float], share: bool, never: bool) -> None:
    if share:  # a share (attainment, an error kind's) is in [0, 1]
        values = [v / 1e4 for v in values]
    never = never and not share  # and only a recovery is ever never
    lo, hi = twin_range([*values, float("inf")] if never else values, share=share)
    assert lo <= min(values) + 1e-9
    assert hi >= max(values) - 1e-9  # at least the min–max of the runs
    assert lo >= 0.0
    if never:
        assert hi == float("inf")
    elif share:
        assert hi <= 1.0


def test_the_twins_range_is_a_prediction_interval_wider_than_ten_runs_min_max() -> None:
    runs = [4.23, 4.5, 4.8, 5.0, 5.2, 4.4, 4.9, 4.6, 5.1, 4.7]
    lo, hi = twin_range(runs)
    mean, s = np.mean(runs), np.std(runs, ddof=1)
    half = 2.262 * s * np.sqrt(1 + 1 / 10)  # t(0.975, 9)
    assert (lo, hi) == (pytest.approx(mean - half, rel=1e-3), pytest.approx(mean + half, rel=1e-3))
    assert lo < min(runs)
    assert hi > max(runs)


def _hop(mean: float, per_request: float = 1.0) -> StackHop:
    return StackHop(n=100, per_request=per_request, mean_s=mean, p50_s=mean, p95_s=mean)


wall = st.floats(1e-5, 0.05)


scale = st.sampled_from([1.0, 4.0, 240.0])


@given(st.tuples(wall, wall, scale), st.tuples(wall, wall, scale, st.floats(0.5, 3)),
       st.floats(0.05, 20))
def test_a_stack_drift_is_a_doubt_exactly_when_it_alone_moves_p50_past_half_its_tolerance(
        pilot: tuple[float, float, float], check: tuple[float, float, float, float],
        p50: float) -> None:
    (pilot_a, pilot_r, pilot_k), (check_a, check_r, check_k, per) = pilot, check
    drift = StackDrift({"agent": _hop(pilot_a, 9.0), "request": _hop(pilot_r),
                        "tool": _hop(1.0)},  # a hop the check never made: not counted
                       pilot_k, {"agent": _hop(check_a, per), "request": _hop(check_r)},
                       check_k)
    # at the check's hops per request: the workflow mix is the arrivals', not the machine's
    want = per * (check_a * check_k - pilot_a * pilot_k) + (check_r * check_k - pilot_r * pilot_k)
    assert drift.shift_s == pytest.approx(want, rel=1e-9, abs=1e-12)
    tol = Tolerance(relative=0.10)
    doubt = drift.doubt(p50, tol.bound(p50))
    assert (doubt is not None) == (abs(drift.shift_s) > STACK_DRIFT * 0.10 * p50)
    if doubt is not None:
        assert ("slower" if drift.shift_s > 0 else "faster") in doubt
        assert (f"fitted at {pilot_k:g}×, checked at {check_k:g}×" in doubt) \
            == (pilot_k != check_k)


def test_no_stack_to_compare_is_no_doubt() -> None:
    assert StackDrift({}, 4, {"agent": _hop(0.001)}, 4).doubt(1.0, 0.1) is None
    assert StackDrift({"llm": _hop(0.001)}, 4, {"agent": _hop(0.5)}, 4).doubt(
        1.0, 0.1) is None  # no hop kind in common
    assert StackDrift({"agent": _hop(0.001)}, 4, {"agent": _hop(0.5)}, 4).doubt(
        None, 0.1) is None  # the twin served nothing: no p50 to move


@pytest.mark.live
def test_fidelity_runs_both_engines_on_the_same_arrivals_and_judges_each_figure(
        tmp_path: Path) -> None:
    # demand from a trace file beside the scenario; the twin lives elsewhere
    (tmp_path / "rate.csv").write_text("time,rate\n0s,10\n20s,10\n")
    text = SCENARIO.replace("demand: {curve: {constant: 10}}",
                            "demand: {curve: {trace: {file: rate.csv, format: rate}}}")
    assert text != SCENARIO
    path = tmp_path / "s.yaml"
    path.write_text(text)
    (tmp_path / "models").mkdir()
    twin = tmp_path / "models" / "twin.yaml"  # a model of the same system, one time changed
    # … fitted (it says) from a pilot whose stack took 20 ms a hop: far slower than loopback
    slow = "{n: 500, per_request: 1, mean_s: 0.02, p50_s: 0.02, p95_s: 0.03}"
    twin.write_text(text.replace("service_time: 10ms", "service_time: 12ms")
                    + f"calibrated:\n  source: a pilot\n  time_scale: 4\n"
                    f"  stack: {{agent: {slow}, llm: {slow}}}\n")
    out = tmp_path / "fid"
    done = subprocess.run([sys.executable, "-m", "harness.cli.main", "fidelity", str(path),
                           "--time-scale", "4", "--out", str(out), "--twin", str(twin),
                           "--replications", "3"], capture_output=True,
                          text=True, timeout=240, check=False, env=tmp_env(tmp_path))
    result = json.loads((out / "fidelity.json").read_text())
    assert done.returncode == {"pass": 0, "fail": 1, "inconclusive": 3}[result["verdict"]]
    assert result["twin"] == str(twin)
    # this machine's hops against the pilot's: the drift alone would move every latency,
    # so the comparison judges the machine — inconclusive, whatever the figures say
    stack = result["stack"]
    assert (stack["pilot_time_scale"], stack["check_time_scale"]) == (4, 4)
    assert set(stack["check"]) == {"request", "agent", "llm", "tool"}
    assert stack["check"]["agent"]["mean_s"] < 0.01  # loopback
    assert stack["shift_s"] < -0.1
    assert result["verdict"] == "inconclusive"
    assert any("the live stack ran faster than in the pilot" in d for d in result["doubts"])
    assert "stack     the live stack's hops took" in done.stdout
    # a recovery is read on the SLA's 10 s windows: judged no finer than one
    recovery = next(c for c in result["checks"] if c["check"] == "recovery.slow-llm")
    assert recovery["tolerance"] == "20% or 10"
    simulated = json.loads((out / "sim" / "scenario.json").read_text())
    assert simulated["system"]["agents"]["b"]["service_time"]["mean"] == 0.012
    live_ran = json.loads((out / "live" / "scenario.json").read_text())
    assert live_ran["system"]["agents"]["b"]["service_time"]["mean"] == 0.010
    # the twin on two more seeds: each figure's range, and the live figure's place in it
    assert sorted(p.name for p in (out / "twin-replications").iterdir()) == ["seed-8", "seed-9"]
    # on the same arrivals: only the twin's own luck differs
    first = read_run(out / "sim").requests["intended_s"].tolist()
    for rep in ("seed-8", "seed-9"):
        again = read_run(out / "twin-replications" / rep)
        assert again.requests["intended_s"].tolist() == first
        assert (again.meta.seed, again.meta.arrivals_seed) == (int(rep[5:]), 7)
    spread = {c["check"]: c for c in result["checks"] if "twin_range" in c}
    assert {"latency.p95", "attainment", "cost.total_usd", "recovery.slow-llm",
            "replicas.a", "replicas.b"} <= set(spread)
    for c in spread.values():
        lo, hi = c["twin_range"]
        if c["sim"] is not None:
            assert lo <= c["sim"]
            assert (hi is None or c["sim"] <= hi)
        if c["live"] is not None and hi is not None:
            assert c["within_twin_range"] == (lo <= c["live"] <= hi)
        assert c["status"] == ("within" if c["passed"] else
                               "unresolved" if c["within_twin_range"] else "outside")
    assert "twin's range over 3 runs" in done.stdout
    names = {c["check"] for c in result["checks"]}
    assert {"latency.p50", "latency.p95", "latency.p99", "attainment", "recovery.slow-llm",
            "replicas.a", "replicas.b", "cost.total_usd"} <= names
    for c in result["checks"]:
        if c["sim"] is not None and c["live"] is not None \
                and not c["check"].startswith("replicas."):  # theirs: sample by sample
            assert c["difference"] == pytest.approx(abs(c["live"] - c["sim"]))
    # the same arrivals in both
    sim, live = read_run(out / "sim").requests, read_run(out / "live").requests
    assert sim["intended_s"].tolist() == live["intended_s"].tolist()
    assert sim["workflow"].astype(str).tolist() == live["workflow"].astype(str).tolist()
    report = (out / "fidelity.html").read_text()
    assert 'id="fidelity-table"' in report
    assert "the twin&#39;s own range" in report or "the twin's own range" in report
    assert "recovery.slow-llm" in report
    assert "Share of requests not ok" in report  # both runs overlaid on the same axes
    assert "squall: " not in done.stderr
    # judged again from the records, with a tolerance changed: nothing runs, the same
    # figures; only what the tolerance decides moves
    runs_before = {d: (d / "run.json").stat().st_mtime_ns for d in (out / "sim", out / "live")}
    again = squall("fidelity", str(path), "--twin", str(twin), "--out", str(out),
                   "--rejudge", "--tolerance", "latency.p95=1000%", "--no-report")
    rejudged = json.loads((out / "fidelity.json").read_text())
    assert again.returncode == {"pass": 0, "fail": 1, "inconclusive": 3}[rejudged["verdict"]]
    assert "judging" in again.stdout
    assert "twin's range over 3 runs" in again.stdout  # the recorded replications
    assert {d: (d / "run.json").stat().st_mtime_ns for d in runs_before} == runs_before
    by_name = {c["check"]: c for c in rejudged["checks"]}
    for c in result["checks"]:
        assert by_name[c["check"]]["sim"] == pytest.approx(c["sim"])
        assert by_name[c["check"]]["live"] == pytest.approx(c["live"])
    assert by_name["latency.p95"]["tolerance"] == "1000%"
    assert by_name["latency.p95"]["status"] == "within"
    assert rejudged["stack"]["shift_s"] == pytest.approx(stack["shift_s"])


def test_a_twin_of_another_system_is_refused_before_anything_runs(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    twin = tmp_path / "twin.yaml"
    twin.write_text(SCENARIO.replace("    b: {", "    c: {").replace("steps: [a, b]",
                                                                    "steps: [a, c]"))
    done = squall("fidelity", str(path), "--twin", str(twin), "--out", str(tmp_path / "fid"))
    assert done.returncode == 2
    assert "the twin is not a model of this scenario's system" in done.stderr
    assert "lacks b" in done.stderr
    assert "adds c" in done.stderr
    assert not (tmp_path / "fid").exists()


def test_a_twin_naming_a_hop_there_is_not_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "twin.yaml"
    hop = "{n: 5, per_request: 1, mean_s: 0.001, p50_s: 0.001, p95_s: 0.002}"
    path.write_text(SCENARIO + f"calibrated:\n  stack: {{agent: {hop}, dns: {hop}}}\n")
    done = squall("validate", str(path))
    assert done.returncode == 2
    assert "calibrated.stack" in done.stderr
    assert "no hop 'dns': the hops are request, agent, llm, tool" in done.stderr


def test_rejudging_where_no_comparison_was_recorded_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    (tmp_path / "empty").mkdir()
    done = squall("fidelity", str(path), "--out", str(tmp_path / "empty"), "--rejudge")
    assert done.returncode == 2
    assert "holds no comparison to judge again" in done.stderr
    assert "Traceback" not in done.stderr
    assert list((tmp_path / "empty").iterdir()) == []


def test_fidelity_refuses_what_the_simulator_cannot_model(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace(
        "faults:\n", "faults:\n  - {id: sh, kind: command, target: agent.a, at: 2s, "
                     "start: 'true'}\n"))
    done = squall("fidelity", str(path), "--out", str(tmp_path / "fid"))
    assert done.returncode == 2
    assert "runs a command: the simulator cannot know what it does" in done.stderr
    assert not (tmp_path / "fid").exists()
