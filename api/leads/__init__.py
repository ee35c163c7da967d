"""Leads: capture, scoring, owners, touches, funnel and conversion into tickets."""
