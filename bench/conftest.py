"""pytest configuration for the benchmark's own tests (``pytest bench --doctest-modules``)."""

# impl_bytewax imports bytewax, which lives only in .bench-venv; it is exercised through the
# harness instead (test_harness_runs_bytewax_in_its_own_venv).
collect_ignore = ["impl_bytewax.py"]
