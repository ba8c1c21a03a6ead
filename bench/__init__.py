"""Benchmarks for the template's performance claims: `make bench` runs them and prints a report.

The modules here orchestrate, in the template's own environment; `bench/project/` runs inside
a rendered project's environment and imports the rendered package. Nothing is collected by
pytest and nothing asserts: each figure is printed beside its target. docs/benchmarks.md
describes every part and holds the published figures.
"""
