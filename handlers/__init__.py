"""ftbot handlers package."""
