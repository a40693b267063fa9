"""SSH fan-out: remote captures streamed back, clocks probed, per-host state, the run manifest."""

from nettrail.collect.run import CollectPlan, CollectResult, collect

__all__ = ["CollectPlan", "CollectResult", "collect"]
