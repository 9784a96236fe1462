"""`make bench` (`python -m bench`): cold starts, AWS calls per operation, the cost model, refresh
concurrency and scheduler scale, measured in one run on the local stack. Writes docs/benchmarks.md."""
