"""Command-line plumbing: one-line user errors (entry_point.py), process
start-up (runtime.py) and the `pip install` console scripts (console.py)."""
