"""What the AI is shown and how it must answer: the tool schema (the decision, inside this
run's bounds), the system prompt, and the per-interval context. Never row values or
credentials."""

from __future__ import annotations

from typing import Any

from dmt.settings import CHUNK_SIZE, MAX_CHUNK_GROWTH, MAX_WRITER_STEP, WRITERS
from dmt.tuning.controller import Controller
from dmt.tuning.decisions import ACTIONS, CONFIDENCES, DecisionRecord
from dmt.tuning.metrics import MetricsSnapshot

TOOL_NAME = "submit_adjustment"
SYSTEM_PROMPT = (
    "You tune a running database migration for maximum sustained throughput (rows/s). "
    "Two knobs: writer threads (writers) and rows per chunk (chunk_size). Change one knob at a "
    "time, stay inside the bounds given, and choose one of the candidate decisions: when the "
    "first candidate is labelled as the rules' choice it is the measured next step of the "
    "built-in controller. `bottleneck.side` says which side limits throughput (reader, writer "
    "or target) and `table` gives the row shape. `cluster` gives the machines doing the copy "
    "(nodes, CPUs): on a cluster of several nodes writers is the number of key ranges copied at "
    "once across it. Answer `continue` when the data does not show "
    "a clear gain. Measured effects of earlier "
    "decisions are included: do not repeat a change that hurt. Answer only with the tool."
)
# what the AI sees of the last decisions
RECENT_FIELDS = {
    "source",
    "action",
    "writers_before",
    "chunk_size_before",
    "writers_after",
    "chunk_size_after",
    "effect_percent",
    "reverted",
}


def tool(writers_high: int = WRITERS.high) -> dict[str, Any]:
    """The forced tool whose input is the decision; writers up to ``writers_high``."""
    return {
        "name": TOOL_NAME,
        "description": "Submit the next writer count and chunk size for the running migration.",
        "input_schema": {
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": list(ACTIONS)},
                "adjustments": {
                    "type": "object",
                    "properties": {
                        "writers": {
                            "type": "integer",
                            "minimum": WRITERS.low,
                            "maximum": writers_high,
                        },
                        "chunk_size": {
                            "type": "integer",
                            "minimum": CHUNK_SIZE.low,
                            "maximum": CHUNK_SIZE.high,
                        },
                    },
                    "required": ["writers", "chunk_size"],
                },
                "confidence": {"type": "string", "enum": list(CONFIDENCES)},
                "reasoning": {"type": "string"},
            },
            "required": ["action", "adjustments", "confidence", "reasoning"],
        },
    }


def bottleneck(m: MetricsSnapshot) -> dict[str, object]:
    """Which side limits throughput, from the read-ahead queue and dmt's own CPU: ``reader``
    (the queue runs dry: writers wait for rows), ``writer`` (the queue is full and dmt's process
    is CPU-bound: encoding rows under one GIL), ``target`` (the queue is full while dmt's
    process has CPU to spare: the database is slow to take the rows), or ``balanced``."""
    fill, cpu = m.queue_fill_ratio, m.process_cpu_percent
    if fill < 0.25 and m.wait_percent < 10:
        side = "reader"
    elif fill >= 0.75 or m.wait_percent >= 25:
        side = "writer" if cpu >= 85 else "target"
    else:
        side = "balanced"
    return {
        "side": side,
        "queue_fill_ratio": round(fill, 2),
        "readers_waiting_on_full_queue_percent": round(m.wait_percent, 1),
        "dmt_process_cpu_percent": round(cpu, 1),
        "write_latency_p50_seconds": round(m.write_latency_p50, 4),
    }


def context(
    m: MetricsSnapshot, ctl: Controller, records: list[DecisionRecord]
) -> dict[str, object]:
    """What the AI sees: metrics, trends, settings, bounds, table shape, candidates and
    recent decisions with their measured effect."""
    writers = m.target_writers or m.active_writers
    return {
        "metrics": m.to_dict(),
        "current": {"writers": writers, "chunk_size": m.chunk_size},
        "bounds": {
            "writers": [WRITERS.low, ctl.s.writers_high],
            "chunk_size": [CHUNK_SIZE.low, CHUNK_SIZE.high],
            "max_writers_step": MAX_WRITER_STEP,
            "chunk_size_step": f"at most ×{MAX_CHUNK_GROWTH} up or ÷{MAX_CHUNK_GROWTH} down",
            "max_chunk_size_for_memory_budget": ctl.max_chunk(writers, m),
            "memory_budget_mb": ctl.s.max_memory_mb,
        },
        "table": {
            "name_known": m.current_table is not None,
            "column_count": m.column_count,
            "avg_row_bytes": round(m.avg_row_bytes, 1),
            "shape": "wide" if m.avg_row_bytes >= 512 or m.column_count >= 12 else "narrow",
            "rows_expected": m.rows_expected,
            "tables_done": m.tables_done,
            "tables_total": m.tables_total,
        },
        "bottleneck": bottleneck(m),
        "cluster": {"nodes": m.nodes, "cpus": m.cpu_count},
        "throughput_noise_percent": round(ctl.noise() * 100, 2),
        "candidates": [
            {
                "action": d.action,
                "writers": d.writers,
                "chunk_size": d.chunk_size,
                "why": d.reasoning,
            }
            for d in ctl.candidates()
        ],
        "recent_decisions": [
            {k: v for k, v in r.to_dict().items() if k in RECENT_FIELDS} for r in records[-5:]
        ],
    }
