"""Squall's Chaos Toolkit extension.

- :mod:`faults.chaostoolkit.actions`: apply and remove any scenario fault on a running
  reference system (its control API), and add or remove a toxic on ``squall proxy``
  (or Toxiproxy) — every fault under a lease, so it lapses if the experiment dies.
- :mod:`faults.chaostoolkit.probes`: SLA figures of a running Squall run, read from its
  records over the last window (attainment, error rate, p95 latency).
- :mod:`faults.chaostoolkit.control`: a control that runs Squall's live load (``squall
  run --mode live``, a subprocess: Locust cannot run inside ``chaos run``) for the
  experiment's length.
- :mod:`faults.chaostoolkit.experiment`: ``squall chaos export`` — an experiment whose
  steady-state hypothesis is the scenario's SLA, its faults as actions, a rollback each.
"""

from __future__ import annotations

from typing import Any

__all__ = ["discover"]


def discover(discover_system: bool = True) -> dict[str, Any]:
    """What the extension offers, in Chaos Toolkit's discovery format."""
    from importlib import metadata

    from chaoslib.discovery.discover import (
        discover_actions,
        discover_probes,
        initialize_discovery_result,
    )

    try:
        version = metadata.version("squall")
    except metadata.PackageNotFoundError:
        version = "unknown"
    discovery: dict[str, Any] = initialize_discovery_result("squall", version, "squall")
    discovery["activities"].extend(discover_actions("faults.chaostoolkit.actions"))
    discovery["activities"].extend(discover_probes("faults.chaostoolkit.probes"))
    return discovery
