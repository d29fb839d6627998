"""ftbot bot package."""
