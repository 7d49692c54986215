"""Benchmarks of growthmap: ``python -m bench`` runs the suite (see :mod:`bench.suite`).

Other benchmark scripts in this folder (alignment, web) run on their own.
"""
