"""Systems under test for the live engine: the adapter protocol, the reference agent
system and adapters for external systems. They arrive with the live engine; the
simulator does not use this package."""

__all__: list[str] = []
