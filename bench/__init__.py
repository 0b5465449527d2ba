"""Benchmarks: the same SQS workloads against bucketq and other SQS servers,
side by side in one run (``python -m bench --help``; docs/benchmarks.md).

Never timed tests: nothing here asserts. Floors from the issue are printed as
PASS/FAIL lines beside the figures they judge.
"""
