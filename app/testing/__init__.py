"""Running the emulator from a test suite: a real server process on a free port."""

from .server import EmulatorProcess, free_port

__all__ = ["EmulatorProcess", "free_port"]
