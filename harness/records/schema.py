"""The record tables both engines write, column by column.

- ``requests``: one row per arrival.
- ``spans``: one row per agent / LLM / tool call attempt.
- ``timeseries``: one row per component per sampling step.

Times are seconds from the start of the run. Latency is measured from the *intended*
start of a request (its place in the arrival schedule), never from when it was actually
sent, so a load generator that falls behind cannot hide queueing (no coordinated
omission).
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["REQUESTS", "SPANS", "TABLES", "TIMESERIES"]

_STR = pa.dictionary(pa.int32(), pa.string())

REQUESTS = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    pa.field("workflow", _STR),
    pa.field("priority", _STR),
    pa.field("intended_s", pa.float64(), nullable=False),  # place in the arrival schedule
    pa.field("sent_s", pa.float64()),  # when it was actually sent (null: never)
    pa.field("end_s", pa.float64()),  # null: never answered (dropped)
    pa.field("latency_s", pa.float64()),  # end − intended
    pa.field("outcome", _STR),  # harness.outcomes.Outcome
    # harness.outcomes.ErrorKind of the root cause (a tool's partition, an LLM's 429),
    # null when ok
    pa.field("error_kind", _STR),
    pa.field("attempts", pa.int32()),  # agent call attempts, retries included
    pa.field("steps", pa.int32()),  # agent steps started
    pa.field("fallback", pa.bool_()),  # a fallback served some step
    pa.field("tokens_in", pa.int64()),
    pa.field("tokens_out", pa.int64()),
    pa.field("cost_usd", pa.float64()),  # LLM tokens and tool calls of every attempt
    pa.field("ttft_s", pa.float64()),  # time to first token (streaming live runs)
    # inter-token latency, aiperf's: (end − first token) / (output tokens − 1)
    pa.field("itl_s", pa.float64()),
])

SPANS = pa.schema([
    pa.field("request_id", pa.int64(), nullable=False),
    pa.field("kind", _STR),  # agent | llm | tool
    pa.field("component", _STR),
    pa.field("caller", _STR),  # who made the call: orchestrator, or the agent for llm / tool
    pa.field("replica", pa.int32()),  # -1 where there are no replicas
    pa.field("attempt", pa.int32()),  # 1 for the first try
    pa.field("start_s", pa.float64()),
    pa.field("end_s", pa.float64()),
    pa.field("queue_s", pa.float64()),  # waiting for a slot, within start..end
    pa.field("error_kind", _STR),  # null when the attempt succeeded
    pa.field("fallback", pa.bool_()),
    pa.field("tokens_in", pa.int32()),
    pa.field("tokens_out", pa.int32()),
    pa.field("cost_usd", pa.float64()),
    # the hop's transit overhead: the caller's time on the call less its own wait for a
    # slot and less the callee's own time (its Server-Timing). Null where unknown
    # (simulated: a simulated hop costs nothing)
    pa.field("hop_s", pa.float64()),
])

TIMESERIES = pa.schema([
    pa.field("t_s", pa.float64(), nullable=False),
    pa.field("kind", _STR),  # agent | endpoint | tool
    pa.field("component", _STR),
    pa.field("replicas", pa.int32()),  # desired replicas (agents)
    pa.field("ready", pa.int32()),  # replicas serving
    pa.field("capacity", pa.int32()),  # slots serving (−1: unlimited)
    pa.field("busy", pa.int32()),
    pa.field("queue", pa.int32()),
    pa.field("breaker", _STR),  # closed | open | half_open, null without a breaker
    pa.field("cost_usd", pa.float64()),  # cumulative cost of the component so far
])

#: Table name → schema.
TABLES: dict[str, pa.Schema] = {"requests": REQUESTS, "spans": SPANS, "timeseries": TIMESERIES}
