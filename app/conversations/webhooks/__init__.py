"""`/v1/Services/{ChatServiceSid}/Configuration/Webhooks`: a service's webhook configuration."""
