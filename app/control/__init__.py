"""`/_emulator/`: the emulator's own surface for tests and operators."""
