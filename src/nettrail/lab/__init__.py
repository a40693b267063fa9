"""Labs: scenario files applied as real network namespaces."""
