"""The benchmark: ``python -m bench`` (see ``bench/RESULTS.md``)."""
