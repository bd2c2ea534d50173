"""Webhooks (SPEC §8): subscriptions, the pure rules, the delivery worker, the CLI."""
