"""Operator commands: `python -m shared.admin --help`."""
