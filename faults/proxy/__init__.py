"""``squall proxy``: a fault proxy with Toxiproxy's toxics and API, plus HTTP faults.

Users put it between their agent system and a dependency (an LLM provider, a tool API, a
database); scenario faults that target ``proxy.NAME`` become its toxics during a live run.
"""

from faults.proxy.core import Proxy, ProxyError
from faults.proxy.server import ProxyServer
from faults.proxy.toxics import TOXICS, Stream, Toxic, ToxicError, parse_toxic

__all__ = ["TOXICS", "Proxy", "ProxyError", "ProxyServer", "Stream", "Toxic", "ToxicError",
           "parse_toxic"]
