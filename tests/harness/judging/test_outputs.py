from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.judging.evaluate import judge
from harness.judging.outputs import junit_xml, markdown
from harness.scoring.model import Verdict
from harness.scoring.score import score_run
from tests.harness.scoring.helpers import per_second, requests, run, scenario

GATES = ["attainment >= 75%", "attainment >= 99%", "latency.p95 <= baseline * 1.2"]


def judged():  # type: ignore[no-untyped-def]
    sc = scenario(faults="- {id: slow, kind: latency, target: agent.worker, at: 30s, "
                         "duration: 20s, add: 1s}\n", gates=GATES)
    return judge(score_run(run(requests(per_second(100, bad=[(30, 50)]))), sc), sc.gate_list())


def test_junit_has_one_testcase_per_gate_and_parses_back() -> None:
    root = ET.fromstring(junit_xml(judged(), elapsed_s=1.5))
    assert root.tag == "testsuite"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "1", "1")
    cases = root.findall("testcase")
    assert [c.get("name") for c in cases] == GATES
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert "value 80.00% against 99.00%" in (failure.get("message") or "")
    assert cases[2].find("skipped") is not None
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["verdict"] == "fail"


def test_markdown_summary_shows_the_verdict_gates_and_faults() -> None:
    text = markdown(judged(), report="runs/x/report.html")
    assert "**FAIL**" in text
    assert "| `attainment >= 99%` | ❌ fail | 80.00% | 99.00% |" in text
    assert "| slow | latency | agent.worker |" in text
    assert "runs/x/report.html" in text


def test_junit_never_reads_greener_than_the_verdict() -> None:
    partial = judged()
    partial.missing = ["events.jsonl is missing"]
    cases = ET.fromstring(junit_xml(partial)).findall("testcase")
    run_case = cases[-1]
    assert run_case.get("name") == "run"
    error = run_case.find("error")
    assert error is not None
    assert error.get("type") == "partial"
    nogates = judged()
    nogates.gates = []
    nogates.verdict = Verdict.NONE
    root = ET.fromstring(junit_xml(nogates))
    assert (root.get("tests"), root.get("errors")) == ("1", "1")


def test_markdown_of_replications_says_the_arrivals_are_in_all() -> None:
    s = judged()
    s.replications, s.seeds = 4, [1, 2, 3, 4]
    text = markdown(s)
    assert "4 replications (seeds 1–4)" in text
    assert "arrivals in all" in text
