"""``python -m sut_adapters.reference --config FILE``: one reference service's process
(:mod:`sut_adapters.reference.run`). Started this way, a process that forks services from
the fork server does not have them import it again as their main module."""

import sys

from sut_adapters.reference.run import main

if __name__ == "__main__":
    main(sys.argv[1:])
