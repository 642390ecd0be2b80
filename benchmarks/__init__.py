"""Benchmarks of amosheets against its own emulators: ``python -m benchmarks`` (see ``__main__``)."""
