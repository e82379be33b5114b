"""Mean and standard error across runs: core's `recosim.core.summary`, under its earlier name here."""

from recosim.core.summary import RunSummary, summarize

__all__ = ["RunSummary", "summarize"]
