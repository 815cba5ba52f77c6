"""Tests of the blueprints that have a test file of their own (the small ones share
tests/adapter/test_blueprints.py)."""
