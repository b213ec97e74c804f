"""LSP handlers, one module per area; each module's ``register(server)`` adds its features."""
