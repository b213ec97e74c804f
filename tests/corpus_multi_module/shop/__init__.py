"""A small shop: workflows in one module, steps and helpers in others."""
