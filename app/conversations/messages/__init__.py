"""`/v1/Conversations/{ConversationSid}/Messages` and its service form: a conversation's messages."""
