"""Benchmarks for the template's performance claims: `make bench` runs them and prints a table.

Nothing here is collected by pytest and nothing asserts: the figures are printed, with the
targets they are held against, so a regression shows up as a missed target in the table.
"""
