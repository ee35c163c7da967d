"""Settling confirmed tickets into pay, the ledger, and what-if comparisons of rate cards."""
