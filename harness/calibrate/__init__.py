"""Calibration: the system model fitted to what a trace observed.

- :mod:`~harness.calibrate.observe`: spans → observations per component (service times,
  endpoint and tool latencies, calls and tokens per invocation, the hops' overhead);
- :mod:`~harness.calibrate.fit`: observations → a distribution of the scenario language,
  with how close it comes;
- :mod:`~harness.calibrate.model`: a system with every observed distribution refitted;
- :mod:`~harness.calibrate.otlp`: OpenTelemetry traces (OTLP JSON, GenAI conventions) as
  spans, and a starter scenario of the system they show;
- :mod:`~harness.calibrate.write`: the whole of ``squall calibrate``, and the calibrated
  scenario written as YAML.
"""
