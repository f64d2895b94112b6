"""The notifier: events -> outside (webhooks) and the snapshots of events (DESIGN §8)."""
