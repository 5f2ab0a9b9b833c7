"""`/v1/Services`: Conversation Services."""
