"""Technicians: profiles, shifts, the day's route and GPS pings."""
