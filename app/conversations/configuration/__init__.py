"""`/v1/Configuration/Webhooks`: the account-level webhook configuration."""
