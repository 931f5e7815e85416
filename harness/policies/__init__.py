"""Resilience policies, written once for both engines.

Each is a small object that takes ``now`` (and, where it draws, a ``random.Random``)
as arguments and never reads a clock or a global RNG: the simulator passes SimPy time,
the live reference system passes monotonic time.
"""
