"""Webhooks: integrators' subscriptions and the signed delivery of ticket changes."""
