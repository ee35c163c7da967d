"""Regions: the stored district and zone tree, and the per-process index over it."""
