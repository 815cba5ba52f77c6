"""Adapter: the only package (with function_app.py) that imports azure.functions."""
