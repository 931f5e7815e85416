"""The live engine: the scenario's arrivals as real HTTP traffic against a running
system, its faults applied on schedule through the system's control API, the same
records as the simulator.

- :mod:`harness.live.driver` — the load driver process (Locust as a library; gevent
  patches that process only);
- :mod:`harness.live.channel` — the frames the driver and the engine exchange;
- :mod:`harness.live.target` — what the engine needs from a system under test;
- :mod:`harness.live.faults` — applies and rolls back the fault schedule under leases;
- :mod:`harness.live.health` — whether the driver held its schedule;
- :mod:`harness.live.engine` — the engine behind the seam (:mod:`harness.engines`).
"""
