"""squall compare and squall sweep, end to end through the CLI."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from harness.cli.grid import parse_param, points
from harness.cli.main import main
from harness.cli.sweep import frontier

SCENARIO = textwrap.dedent("""\
    name: shop
    seed: 3
    duration: 3m
    system:
      agents: {worker: {replicas: 2, concurrency: 2, service_time: {dist: exponential, mean: 1s},
                        compute_price_per_s: 0.001}}
      workflows: {only: {steps: [worker]}}
    demand: {curve: {constant: 3}}
    sla: {objective: 5s}
    gates: ["attainment >= 90%"]
""")


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(SCENARIO)
    return path


def test_compare_rejudges_the_candidate_with_relative_gates(scenario_file: Path,
                                                            tmp_path: Path) -> None:
    base, cand = tmp_path / "base", tmp_path / "cand"
    assert main(["run", str(scenario_file), "--out", str(base), "-q", "--no-report",
                 "--replications", "3"]) in (0, 1, 3)
    assert main(["run", str(scenario_file), "--out", str(cand), "-q", "--no-report",
                 "--replications", "3", "--set", "system.agents.worker.replicas=4"]) in (0, 1, 3)
    code = main(["compare", str(base), str(cand), "--gate", "latency.p95 <= baseline * 1.0",
                 "--gate", "cost.total_usd <= baseline * 1.0", "--out",
                 str(tmp_path / "c.json"), "--junit", str(tmp_path / "c.xml")])
    result = json.loads((tmp_path / "c.json").read_text())
    assert result["changes"] == [{"path": "system.agents.worker.replicas.initial",
                                  "base": 2, "candidate": 4}]
    gates = {g["name"]: g["status"] for g in result["gates"]}
    assert gates["latency.p95 <= baseline * 1.0"] == "pass"  # more replicas: faster...
    assert gates["cost.total_usd <= baseline * 1.0"] == "fail"  # ...and dearer
    assert code == 1
    p95 = next(d for d in result["deltas"] if d["metric"] == "latency.p95")
    assert p95["better"] is True
    assert p95["p_value"] == pytest.approx(0.1)  # 3 vs 3, fully separated: 2 of 20
    assert ET.parse(tmp_path / "c.xml").getroot().get("failures") == "1"


def test_compare_refuses_runs_of_different_scenarios(scenario_file: Path,
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(SCENARIO.replace("name: shop", "name: other"))
    main(["run", str(scenario_file), "--out", str(tmp_path / "a"), "-q", "--no-report"])
    main(["run", str(other), "--out", str(tmp_path / "b"), "-q", "--no-report"])
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "different scenarios: 'shop' and 'other'" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"),
                 "--allow-different"]) in (0, 1)


@pytest.mark.parametrize(
    ("text", "values"),
    [("a.b=1,2,3", ("1", "2", "3")), ("a=2..5", ("2", "3", "4", "5")),
     ("a=0.5..2:0.5", ("0.5", "1", "1.5", "2")),
     ("a={constant: 5},{constant: 10}", ("{constant: 5}", "{constant: 10}")),
     ("a=[1, 2],[3]", ("[1, 2]", "[3]"))],
)
def test_sweep_parameters_take_lists_and_ranges(text: str, values: tuple[str, ...]) -> None:
    assert parse_param(text).values == values


@pytest.mark.parametrize("bad", ["nothing", "a=", "=1,2", "a=5..1"])
def test_bad_sweep_parameters_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match=r"PATH=VALUES|no values"):
        parse_param(bad)


def test_random_points_are_distinct_members_of_the_grid() -> None:
    params = [parse_param("a=1..10"), parse_param("b=x,y,z")]
    grid = points(params)
    assert len(grid) == 30
    sample = points(params, samples=7, seed=1)
    assert len(sample) == 7
    assert all(p in grid for p in sample)
    assert len({tuple(p.items()) for p in sample}) == 7
    assert points(params, samples=7, seed=1) == sample


def test_the_frontier_keeps_only_undominated_points() -> None:
    table = pd.DataFrame({"cost.total_usd": [1, 2, 2, 3, 4],
                          "attainment": [0.5, 0.7, 0.6, 0.7, 0.9]})
    assert frontier(table).index.tolist() == [0, 1, 4]


def test_sweep_finds_the_cheapest_passing_configuration(scenario_file: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    out = tmp_path / "sweep"
    code = main(["sweep", str(scenario_file), "--param", "system.agents.worker.replicas=1,2,4",
                 "--out", str(out), "--workers", "2"])
    assert code == 0
    table = pd.read_csv(out / "sweep.csv")
    assert table["system.agents.worker.replicas"].tolist() == [1, 2, 4]
    assert table["verdict"].tolist()[0] == "fail"  # one replica cannot keep up
    best = json.loads((out / "sweep.json").read_text())["best"]
    assert best["system.agents.worker.replicas"] == "2"  # passes, and cheaper than 4
    assert pd.read_parquet(out / "sweep.parquet").shape[0] == 3
    assert "cheapest passing: system.agents.worker.replicas=2" in capsys.readouterr().out


def test_a_sweep_with_an_invalid_point_runs_nothing(scenario_file: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", str(scenario_file), "--param", "system.agents.worker.replicas=2,-1",
                 "--out", str(tmp_path / "s")])
    assert code == 2
    assert "--set system.agents.worker.replicas=-1" in capsys.readouterr().err
    assert not (tmp_path / "s" / "points").exists()


def test_a_changed_empirical_distribution_reads_as_one_line() -> None:
    from harness.compare import config_changes

    before = {"system": {"tools": {"db": {"latency": {"dist": "gamma", "mean": 0.05,
                                                         "cv": 0.5}}}}}
    after = {"system": {"tools": {"db": {"latency": {
        "dist": "empirical", "samples": [0.01 * i for i in range(1, 401)]}}}}}
    changes = {path: new for path, _old, new in config_changes(before, after)}
    assert changes["system.tools.db.latency.samples"] == \
        "400 values from 0.01 to 4, mean 2.005"
    assert changes["system.tools.db.latency.dist"] == "empirical"
