"""ftbot adapters package."""
