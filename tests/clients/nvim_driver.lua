-- Headless Neovim (>= 0.11) end-to-end driver for the shipped clients/neovim/lsp/dbos_lsp.lua.
--
-- Usage (see test_neovim.py):
--   nvim --headless --clean -u tests/clients/nvim_driver.lua app.py
-- Environment:
--   DBOS_NVIM_CLIENT_DIR  directory holding lsp/dbos_lsp.lua (added to 'runtimepath')
--   DBOS_LSP_CMD_JSON     JSON array overriding `cmd` (e.g. [python, "-m", "dbos_lsp"])
--   DBOS_NVIM_RESULT      file the JSON results are written to
--   DBOS_NVIM_WAIT_MS     per-step wait bound (default 15000)
--   DBOS_NVIM_SETTINGS_JSON   optional JSON merged into the config's `settings`
--   DBOS_NVIM_EXPECT_SEVERITY optional: also wait until DBOS101 has this severity (1-4)
--
-- The driver never asserts; it records what happened and the pytest side asserts.
-- It always writes the result file (even after a Lua error) and then quits.

local result = { steps = {}, errors = {} }
local WAIT = tonumber(vim.env.DBOS_NVIM_WAIT_MS or '') or 15000
local T0 = vim.uv.hrtime()

local function step(name)
  table.insert(result.steps, { name = name, ms = math.floor((vim.uv.hrtime() - T0) / 1e6) })
end

local function write_result()
  result.total_ms = math.floor((vim.uv.hrtime() - T0) / 1e6)
  local path = assert(vim.env.DBOS_NVIM_RESULT, 'DBOS_NVIM_RESULT not set')
  local f = assert(io.open(path, 'w'))
  f:write(vim.json.encode(result))
  f:close()
end

-- Flatten any hover `contents` shape (MarkupContent, MarkedString, list of them) to text.
local function hover_text(contents)
  if contents == nil or contents == vim.NIL then return nil end
  if type(contents) == 'string' then return contents end
  if contents.value then return contents.value end
  local parts = {}
  for _, c in ipairs(contents) do
    table.insert(parts, type(c) == 'string' and c or (c.value or ''))
  end
  return table.concat(parts, '\n')
end

local function diag_list(buf)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(out, {
      lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
      severity = d.severity, source = d.source, code = d.code, message = d.message,
      namespace = vim.diagnostic.get_namespace(d.namespace).name,
    })
  end
  return out
end

local function dbos101(buf)
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if tostring(d.code) == 'DBOS101' then table.insert(found, d) end
  end
  return found
end

-- ---------------------------------------------------------------------------
vim.opt.runtimepath:append(assert(vim.env.DBOS_NVIM_CLIENT_DIR, 'DBOS_NVIM_CLIENT_DIR not set'))
-- The file shipped in clients/neovim/lsp/ as Neovim resolves it from 'runtimepath'.
local shipped_files = vim.api.nvim_get_runtime_file('lsp/dbos_lsp.lua', true)
result.shipped_config_files = shipped_files
if shipped_files[1] then
  local shipped = dofile(shipped_files[1])   -- the table as a user gets it, before test overrides
  result.shipped = { cmd = shipped.cmd, filetypes = shipped.filetypes, root_markers = shipped.root_markers,
                     settings = shipped.settings }
end
if vim.env.DBOS_LSP_CMD_JSON and vim.env.DBOS_LSP_CMD_JSON ~= '' then
  vim.lsp.config('dbos_lsp', { cmd = vim.json.decode(vim.env.DBOS_LSP_CMD_JSON) })
end
if vim.env.DBOS_NVIM_SETTINGS_JSON and vim.env.DBOS_NVIM_SETTINGS_JSON ~= '' then
  vim.lsp.config('dbos_lsp', { settings = vim.json.decode(vim.env.DBOS_NVIM_SETTINGS_JSON) })
end
vim.lsp.enable('dbos_lsp')

local function run()
  local buf = vim.api.nvim_get_current_buf()
  result.filetype = vim.bo[buf].filetype
  result.file = vim.api.nvim_buf_get_name(buf)
  local cfg = vim.lsp.config.dbos_lsp or {}
  result.config = {
    cmd = type(cfg.cmd) == 'table' and cfg.cmd or tostring(cfg.cmd),
    filetypes = cfg.filetypes, root_markers = cfg.root_markers, settings = cfg.settings,
  }

  local function client() return vim.lsp.get_clients({ bufnr = buf, name = 'dbos_lsp' })[1] end

  -- 1. attach -----------------------------------------------------------------
  result.attached = vim.wait(WAIT, function() return client() ~= nil end, 20)
  step('attach')
  if not result.attached then return end
  local c = client()
  vim.wait(WAIT, function() return c.initialized end, 20)
  result.client = {
    name = c.name, root_dir = c.root_dir, offset_encoding = c.offset_encoding,
    server_name = c.server_info and c.server_info.name,
    server_version = c.server_info and c.server_info.version,
    diagnostic_provider = c.server_capabilities.diagnosticProvider ~= nil,
    hover_provider = c.server_capabilities.hoverProvider and true or false,
    code_action_provider = c.server_capabilities.codeActionProvider and true or false,
  }

  -- 2. DBOS101 diagnostic (pull or push, whichever the server chose) -----------
  result.diagnostic_found = vim.wait(WAIT, function() return #dbos101(buf) > 0 end, 20)
  step('diagnostics')
  local want = tonumber(vim.env.DBOS_NVIM_EXPECT_SEVERITY or '')
  if want then
    -- Settings arrive by workspace/didChangeConfiguration; the server refreshes if needed.
    result.severity_matched = vim.wait(WAIT, function()
      local f = dbos101(buf)[1]
      return f ~= nil and f.severity == want
    end, 20)
    step('severity')
  end
  result.diagnostics = diag_list(buf)
  local d = dbos101(buf)[1]
  -- Which LSP model delivered it.  Neovim 0.11 advertises textDocument/diagnostic (pull) but
  -- not workspace/diagnostic/refresh, so the server should push; a Neovim with refresh pulls.
  result.refresh_support =
    vim.tbl_get(vim.lsp.protocol.make_client_capabilities(), 'workspace', 'diagnostics', 'refreshSupport') == true
  if d then
    if d.namespace == vim.lsp.diagnostic.get_namespace(c.id, true) then
      result.diagnostic_mode = 'pull'
    elseif d.namespace == vim.lsp.diagnostic.get_namespace(c.id, false) then
      result.diagnostic_mode = 'push'
    else
      result.diagnostic_mode = 'other'
    end
  end

  -- 2b. what the buffer shows next to the code: nothing by default in 0.11, the message
  --     once the user turns on virtual_text / virtual_lines (clients/neovim/README.md)
  local function shown_on(line)
    local texts = {}
    for _, ns in pairs(vim.api.nvim_get_namespaces()) do
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(buf, ns, { line, 0 }, { line, -1 }, { details = true })) do
        for _, chunk in ipairs(m[4].virt_text or {}) do table.insert(texts, chunk[1]) end
        for _, vline in ipairs(m[4].virt_lines or {}) do
          for _, chunk in ipairs(vline) do table.insert(texts, chunk[1]) end
        end
      end
    end
    return table.concat(texts, ' ')
  end
  if d then
    result.virtual_default = shown_on(d.lnum)
    vim.diagnostic.config({ virtual_text = true })
    result.virtual_text = shown_on(d.lnum)
    vim.diagnostic.config({ virtual_text = false, virtual_lines = true })
    result.virtual_lines = shown_on(d.lnum)
    vim.diagnostic.config({ virtual_text = false, virtual_lines = false })
  end

  -- 3. hover on `sleep` of `DBOS.sleep` ------------------------------------------
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  local hover_line, hover_col
  for i, l in ipairs(lines) do
    local s = l:find('DBOS.sleep(', 1, true)
    if s then hover_line, hover_col = i - 1, s - 1 + #'DBOS.' + 1; break end
  end
  result.hover_position = { line = hover_line, character = hover_col }
  if hover_line then
    local params = {
      textDocument = vim.lsp.util.make_text_document_params(buf),
      position = { line = hover_line, character = hover_col },
    }
    local res, err = c:request_sync('textDocument/hover', params, WAIT, buf)
    if not res then
      result.hover_error = tostring(err)
    elseif res.err then
      result.hover_error = vim.inspect(res.err)
    else
      result.hover = res.result and hover_text(res.result.contents) or vim.NIL
    end
  end
  step('hover')
  if not d then return end

  -- 4. code actions for the diagnostic --------------------------------------------
  local lsp_diag = d.user_data and d.user_data.lsp
  local ca_params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = lsp_diag and lsp_diag.range or {
      start = { line = d.lnum, character = d.col }, ['end'] = { line = d.end_lnum, character = d.end_col } },
    context = { diagnostics = { lsp_diag }, triggerKind = 1 },
  }
  local res, err = c:request_sync('textDocument/codeAction', ca_params, WAIT, buf)
  step('code_action_request')
  if not res or res.err then
    result.code_action_error = res and vim.inspect(res.err) or tostring(err)
    return
  end
  result.code_actions = {}
  for _, a in ipairs(res.result or {}) do
    table.insert(result.code_actions, {
      title = a.title, kind = a.kind, isPreferred = a.isPreferred == true,
      has_edit = a.edit ~= nil, has_command = a.command ~= nil,
    })
  end

  -- 5. apply the preferred quick fix the way a user does: vim.lsp.buf.code_action
  --    on the diagnostic's line, filtered to the preferred quickfix, apply = true.
  local before = vim.api.nvim_buf_get_lines(buf, d.lnum, d.lnum + 1, false)[1]
  result.line_before = before
  vim.api.nvim_win_set_cursor(0, { d.lnum + 1, d.col })
  -- No explicit context.diagnostics: Neovim gathers the cursor line's diagnostics
  -- itself (from the client's pull and push namespaces), as for a user's `gra`.
  vim.lsp.buf.code_action({
    context = { only = { 'quickfix' } },
    filter = function(a) return a.isPreferred == true end,
    apply = true,
  })
  result.fix_applied = vim.wait(WAIT, function()
    return vim.api.nvim_buf_get_lines(buf, d.lnum, d.lnum + 1, false)[1] ~= before
  end, 20)
  step('apply_fix')
  result.line_after = vim.api.nvim_buf_get_lines(buf, d.lnum, d.lnum + 1, false)[1]
  result.buffer_after = vim.api.nvim_buf_get_lines(buf, 0, -1, false)

  -- 6. the diagnostic goes away after the edit (didChange -> new pull / push) -------
  result.diagnostic_cleared = vim.wait(WAIT, function() return #dbos101(buf) == 0 end, 20)
  step('diagnostic_cleared')
  result.diagnostics_after = diag_list(buf)
end

vim.api.nvim_create_autocmd('VimEnter', {
  once = true,
  callback = function()
    -- Run outside the autocmd so vim.wait() can process LSP traffic freely.
    vim.schedule(function()
      local ok, e = xpcall(run, debug.traceback)
      if not ok then table.insert(result.errors, tostring(e)) end
      local wok, werr = pcall(write_result)
      if not wok then io.stderr:write('nvim_driver: cannot write result: ' .. tostring(werr) .. '\n') end
      -- Stop the server politely, then quit; a stuck server must not hang Neovim.
      for _, cl in ipairs(vim.lsp.get_clients()) do cl:stop() end
      vim.wait(2000, function() return #vim.lsp.get_clients() == 0 end, 20)
      vim.cmd((ok and wok) and 'qa!' or 'cq 3')
    end)
  end,
})
