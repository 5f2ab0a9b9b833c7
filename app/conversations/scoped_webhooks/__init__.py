"""Conversation-scoped webhooks: `/v1/Conversations/{ConversationSid}/Webhooks` in both path forms."""
