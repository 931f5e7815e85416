"""The reference agent system: real processes serving HTTP on loopback, built from a
scenario's ``system`` section and running the same call semantics and fault effects as
the simulator (:mod:`harness.calls`, :mod:`faults.effects`) on the monotonic clock.

Services (each an OS process): mock LLM endpoints (:mod:`.llm`), tool services, agent
replicas, an orchestrator and a supervisor. Every service shares :mod:`.service`: JSON
errors for malformed requests, a bearer-token control API, leased faults.
"""

__all__: list[str] = []
