"""Tickets (work orders): creation, listing, the lifecycle, confirmation."""
