"""Tenants and their credentials: who may call which Tenant URL."""
