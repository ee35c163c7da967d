"""Manual adjustments above the approval amount: requested by one admin, decided by another."""
