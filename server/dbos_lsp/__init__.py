"""dbos-lsp: live guidance for DBOS durable workflows, in any LSP editor."""

__version__ = "0.1.0"
