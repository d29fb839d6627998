"""ftbot emulator package."""
