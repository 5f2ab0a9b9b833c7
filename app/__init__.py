"""A local emulator of Twilio's Conversations API."""

__version__ = "0.1.0"

from .mock import mock_twilio

__all__ = ["__version__", "mock_twilio"]
