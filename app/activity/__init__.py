"""What an action fires: the configuration that applies, its hooks, signed deliveries."""
