"""Twilio Conversations resources, one folder each: router (HTTP), service (rules), models (storage)."""
