"""Inputs: reading trial tables, validating them against the published schema, grouping rows into
analyses, and the workflow configuration; the error types that name file, row and column.
"""
