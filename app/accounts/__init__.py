"""Accounts and their API keys: who may call, and whose state a call sees."""
