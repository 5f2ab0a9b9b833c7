"""Webhook deliveries: simulated Conversations actions fire the configured hooks (contract §7)."""
