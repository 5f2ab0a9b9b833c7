"""Participants of a conversation: `/v1/Conversations/{ConversationSid}/Participants` and the
service form."""
