"""Rules (placeholder: being written)."""
