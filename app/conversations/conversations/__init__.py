"""`/v1/Conversations` and `/v1/Services/{ChatServiceSid}/Conversations`: conversations."""
