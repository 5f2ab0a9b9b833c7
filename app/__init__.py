"""A local emulator of Twilio's Conversations API."""

__version__ = "0.1.0"
