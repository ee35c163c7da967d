"""Dispatch in the service: optimiser runs, the live plan, overrides, insertion and availability."""
