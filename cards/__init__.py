"""ftbot cards package."""
