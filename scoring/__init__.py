"""Submission readers and validation, probes, metrics, reports and the `score-submission` command.

Nothing here imports TensorFlow: scoring must stay light enough to run anywhere.
"""
