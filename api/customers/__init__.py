"""Customers: one identity per person within a source, merge suggestions, the Customer 360."""
