"""The SCIM engine: protocol logic only, no I/O (dicts in, dicts out)."""
