"""Demo data: synthetic generator and loader used by make run, tests and benchmarks."""
