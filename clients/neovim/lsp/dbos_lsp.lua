---@brief
---
--- dbos-lsp: DBOS durable-workflow guidance for Python (diagnostics such as
--- DBOS101, hovers on DBOS APIs, quick fixes).
---
--- Install the server into the environment your project uses:
--- ```sh
--- pip install /path/to/dbos-lsp   # a checkout; provides the `dbos-lsp` command
--- ```
---
--- Neovim >= 0.11. Put the directory that contains this `lsp/` folder on
--- 'runtimepath' (or copy this file to ~/.config/nvim/lsp/dbos_lsp.lua), then:
--- ```lua
--- vim.lsp.enable('dbos_lsp')
--- ```
--- Override any field with `vim.lsp.config('dbos_lsp', { ... })`, e.g.
--- ```lua
--- vim.lsp.config('dbos_lsp', {
---   cmd = { '/path/to/venv/bin/python', '-m', 'dbos_lsp' },
---   settings = { dbos = { ignore = { 'DBOS101' } } },
--- })
--- ```
--- Neovim 0.11 hides diagnostic messages by default (signs and underlines
--- only); show them with
--- ```lua
--- vim.diagnostic.config({ virtual_text = true })  -- or { virtual_lines = true }
--- ```
--- dbos-lsp runs alongside pyright, basedpyright, ruff, pylsp, ...: Neovim
--- attaches every enabled config whose filetypes match.

---@type vim.lsp.Config
return {
  cmd = { 'dbos-lsp' },
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'setup.py', 'setup.cfg', 'requirements.txt', '.git' },
  -- Answers the server's workspace/configuration requests (section "dbos").
  -- vim.empty_dict() so an empty section is sent as {} rather than [].
  settings = {
    dbos = vim.empty_dict(),
  },
}
