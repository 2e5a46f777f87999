"""Alerts: incidents evaluated after every ingested batch, and webhook notifications of them."""
