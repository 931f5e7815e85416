"""The live engine: the scenario's arrivals as real HTTP traffic against a running
system, its faults applied on schedule through the system's control API, the same
records as the simulator.

- :mod:`harness.live.engine` — the engine behind the seam (:mod:`harness.engines`);
- :mod:`harness.live.target` — what the engine needs from a system under test;
- :mod:`harness.live.faults` — applies and rolls back the fault schedule under leases;
- :mod:`harness.live.health`, :mod:`harness.live.cpu` — whether the driver held its
  schedule, and its CPU;
- :mod:`harness.live.stops` — stop conditions; :mod:`harness.live.progress` — the display;
- :mod:`harness.live.channel` — the frames the driver and the engine exchange;
- the driver process (gevent patches it, and only it): :mod:`harness.live.driver` (its
  entry point), :mod:`harness.live.sender` (sending one share of the schedule),
  :mod:`harness.live.workers` (a Locust master and its load workers).
"""
