"""The operator's operations, one module per area: what the management API
(`/manage/v1/…`, api.py), the web console (through that API) and the CLI (`python -m
shared.admin`) all run. Each operation takes a `Deployment` (context.py) and returns plain
JSON-able data, or raises `ManageError` (errors.py) with an actionable detail."""
