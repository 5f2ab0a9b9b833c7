"""Running the emulator from a test suite: a real server process on a free port, and the proxy."""

from .server import EmulatorProcess, ProxyProcess, free_port

__all__ = ["EmulatorProcess", "ProxyProcess", "free_port"]
