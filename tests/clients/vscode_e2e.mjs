// Drives a running code-server (real VS Code 1.100 workbench) headless with Playwright +
// Debian's chromium, and checks the DBOS extension the way a person would: squiggle and
// Problems panel, hover, Ctrl+. quick fix, "DBOS: Restart Server", error notifications.
//
// Usage: node vscode_e2e.mjs CONFIG.json
//   CONFIG = { url, folder, file, scenario: "full" | "bundled" | "fallback" | "interpreter" | "restricted" | "badpath",
//              settingsFile, shotsDir, playwrightDir, chromium, timeoutMs }
// Prints one JSON line {"scenario", "checks": [{name, pass, detail}], "log": "..."} as the
// last line of stdout; tests/clients/test_vscode.py asserts on it. Exit code 0 iff all passed.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const require = createRequire(path.join(cfg.playwrightDir, 'package.json'));
const { chromium } = require('playwright-core');

const checks = [];
const started = Date.now();
let browser;
let finished = false;

function check(name, pass, detail) {
    checks.push({ name, pass: !!pass, detail: detail ?? null, t: ((Date.now() - started) / 1000).toFixed(1) });
    process.stderr.write(`${pass ? 'PASS' : 'FAIL'} ${name} ${detail === undefined ? '' : JSON.stringify(detail).slice(0, process.env.DBOS_E2E_DEBUG ? 5000 : 300)}\n`);
    return !!pass;
}

function emit() {
    if (finished) return;
    finished = true;
    let log = '';
    try {
        log = readChannelLog();
    } catch {
        // ignore
    }
    process.stdout.write(JSON.stringify({ scenario: cfg.scenario, checks, log, seconds: (Date.now() - started) / 1000 }) + '\n');
}

// Overall deadline: a hang anywhere fails fast with what we have so far.
const deadline = setTimeout(async () => {
    check('finished before the deadline', false, `${cfg.timeoutMs} ms`);
    emit();
    try { await browser?.close(); } catch { /* ignore */ }
    process.exit(2);
}, cfg.timeoutMs ?? 120000);

const norm = (s) => (s ?? '').replace(/\u00a0/g, ' ').replace(/[ \t]+/g, ' ');

/** The "DBOS" output channel as persisted by VS Code under <user-data-dir>/logs. */
function readChannelLog() {
    const found = [];
    const walk = (dir) => {
        let entries = [];
        try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
        for (const e of entries) {
            const p = path.join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else if (/(^|-)DBOS\.log$/.test(e.name)) found.push(p);
        }
    };
    walk(cfg.logsDir);
    return found.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
}

async function waitUntil(fn, timeoutMs, stepMs = 250) {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) return v;
        await new Promise((r) => setTimeout(r, stepMs));
    }
}

async function shot(page, name) {
    if (!cfg.shotsDir) return;
    fs.mkdirSync(cfg.shotsDir, { recursive: true });
    await page.screenshot({ path: path.join(cfg.shotsDir, name) }).catch(() => {});
}

async function runCommand(page, label) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10000 });
    await input.fill('>' + label);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
    await row.waitFor({ timeout: 10000 });
    await row.click();
}

async function gotoLine(page, line, col) {
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+KeyG');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10000 });
    await input.fill(`:${line}:${col}`);
    await page.keyboard.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 10000 }).catch(() => {});
}

async function problemRows(page) {
    return (await page.locator('.markers-panel .monaco-tl-row').allInnerTexts()).map((t) => norm(t).replace(/\s+/g, ' ').trim());
}

async function squiggles(page) {
    return page.locator('.monaco-editor .view-overlays .squiggly-warning, .monaco-editor .view-overlays .squiggly-error, '
        + '.monaco-editor .view-overlays .squiggly-info').count();
}

async function editorText(page) {
    // visible lines of the active editor, in screen order
    const lines = await page.locator('.editor-instance .monaco-editor .view-lines .view-line').evaluateAll((els) =>
        els.map((e) => ({ top: parseFloat(e.style.top || '0'), text: e.textContent || '' })).sort((a, b) => a.top - b.top).map((l) => l.text));
    return lines.map(norm).join('\n');
}

async function openFile(page) {
    await page.goto(`${cfg.url}/?folder=${encodeURIComponent(cfg.folder)}`, { timeout: 60000 });
    await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
    check('workbench loaded', true);
    // Quick Open (Ctrl+P) the file
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } }).catch(() => {});
    const qi = page.locator('.quick-input-widget input');
    for (let i = 0; i < 3; i++) {
        await page.keyboard.press('Control+KeyP');
        if (await qi.waitFor({ state: 'visible', timeout: 5000 }).then(() => true, () => false)) break;
    }
    await qi.fill(cfg.file);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: cfg.file }).first().waitFor({ timeout: 30000 });
    await page.keyboard.press('Enter');
    await page.locator(`.tab[data-resource-name="${cfg.file}"]`).first().waitFor({ timeout: 20000 });
    await page.locator('.editor-instance .monaco-editor .view-lines').first().waitFor({ timeout: 20000 });
    check(`opened ${cfg.file}`, true);
}

async function waitForDiagnostic(page, timeoutMs, label) {
    await runCommand(page, 'View: Focus Problems (Errors, Warnings, Infos)').catch(() => runCommand(page, 'View: Focus Problems'));
    const ok = await waitUntil(async () => (await problemRows(page)).some((r) => /DBOS101/.test(r)), timeoutMs);
    const rows = await problemRows(page);
    check(`${label}: Problems panel shows DBOS101`, ok, rows);
    return ok;
}

async function hoverParts(page) {
    // one .hover-row per hover participant: the diagnostic ("marker hover-contents"), the
    // "View Problem / Quick Fix" status bar, and the language server's markdown hover
    return page.locator('.monaco-hover:visible .hover-row').evaluateAll((els) => els.map((e) => ({
        marker: !!e.querySelector('.marker') || e.classList.contains('status-bar'),
        text: (e.textContent || '').replace(/\u00a0/g, ' '),
    }))).catch(() => []);
}

async function hoverCheck(page, name) {
    await gotoLine(page, 6, 11); // on "sleep" of "    DBOS.sleep(30)"
    await runCommand(page, 'Show or Focus Hover');
    // the diagnostic message mentions sleep_async too: require it in the server's own hover part
    const serverText = async () => (await hoverParts(page)).filter((p) => !p.marker).map((p) => p.text).join('\n');
    const ok = await waitUntil(async () => /sleep_async/.test(await serverText()), 15000);
    check(name, ok, { serverText: await serverText(), all: await hoverParts(page) });
    return ok;
}

async function full(page) {
    await openFile(page);
    const gotDiag = await waitForDiagnostic(page, 45000, 'diagnostic');
    if (!gotDiag) return; // no server: the rest cannot pass, fail fast
    const nSquiggles = await waitUntil(() => squiggles(page), 10000);
    check('squiggle under DBOS.sleep(30) in the editor', nSquiggles > 0, nSquiggles);
    const rows = await problemRows(page);
    check('Problems row has source dbos and line 6', rows.some((r) => /DBOS101/.test(r) && /\bdbos\b/.test(r) && /Ln 6/.test(r)), rows);
    await gotoLine(page, 6, 11);
    await shot(page, 'vscode-diagnostic.png');

    await hoverCheck(page, 'hover on DBOS.sleep mentions sleep_async');
    await shot(page, 'vscode-hover.png');
    await page.keyboard.press('Escape');

    // Restart: the log channel shows a second start and the diagnostics come back
    await runCommand(page, 'DBOS: Restart Server');
    const restarted = await waitUntil(() => /Server started \(start #2/.test(readChannelLog()), 30000);
    check('DBOS: Restart Server -> log shows a second start', restarted,
        readChannelLog().split('\n').filter((l) => /start #|Restart/.test(l)));
    await waitForDiagnostic(page, 30000, 'after restart');

    // Quick fix via Ctrl+. (uses the restarted server)
    await gotoLine(page, 6, 11);
    await page.keyboard.press('Control+Period');
    const rowsLoc = page.locator('.action-widget .monaco-list-row');
    await rowsLoc.first().waitFor({ timeout: 15000 }).catch(() => {});
    const titles = (await rowsLoc.allInnerTexts().catch(() => [])).map(norm);
    const fix = page.locator('.action-widget .monaco-list-row', { hasText: 'sleep_async' }).first();
    const offered = await fix.count() > 0;
    check('Ctrl+. offers the sleep_async quick fix', offered, titles);
    await shot(page, 'vscode-quickfix.png');
    if (offered) {
        // pick it with the keyboard (a pointer-block overlay swallows clicks on the widget)
        for (let i = 0; i < titles.length + 1; i++) {
            const focused = norm(await page.locator('.action-widget .monaco-list-row.focused').first().innerText().catch(() => ''));
            if (/sleep_async/.test(focused)) break;
            await page.keyboard.press('ArrowDown');
        }
        await page.keyboard.press('Enter');
        const fixedLine = await waitUntil(async () => (await editorText(page)).split('\n').find((l) => /sleep_async/.test(l)), 10000);
        check('quick fix rewrites line 6 to "await DBOS.sleep_async(30)"', /^\s*await DBOS\.sleep_async\(30\)\s*$/.test(fixedLine ?? ''), fixedLine ?? await editorText(page));
        await page.keyboard.press('Control+KeyS'); // pytest reads the saved file too
        await page.waitForTimeout(500);
        const gone = await waitUntil(async () => !(await problemRows(page)).some((r) => /DBOS101/.test(r)), 20000);
        check('DBOS101 disappears after the fix', gone, await problemRows(page));
    } else {
        await page.keyboard.press('Escape');
    }
    check('log channel has the server command line', /Starting DBOS language server \(start #1\)/.test(readChannelLog()));
}

async function bundled(page) {
    await openFile(page);
    await waitForDiagnostic(page, 60000, 'useBundled');
    // settings reach the server: this scenario sets "dbos.severity": {"DBOS101": "information"}
    const info = await waitUntil(() => page.locator('.monaco-editor .view-overlays .squiggly-info').count(), 10000);
    check('useBundled: dbos.severity setting applied (info squiggle)', info > 0, info);
    // a live settings change reaches the running server (workspace/didChangeConfiguration):
    // edit settings.json in the editor as a person would, save, and go back to app.py
    const settings = JSON.parse(fs.readFileSync(cfg.settingsFile, 'utf8'));
    settings['dbos.severity'] = { DBOS101: 'error' };
    await runCommand(page, 'Preferences: Open User Settings (JSON)');
    await page.locator('.tab[data-resource-name="settings.json"]').first().waitFor({ timeout: 15000 });
    await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+KeyA');
    await page.keyboard.insertText(JSON.stringify(settings)); // one line: no auto-indent
    await page.keyboard.press('Control+Shift+End'); // drop anything auto-closing added after it
    await page.keyboard.press('Delete');
    await page.keyboard.press('Control+KeyS');
    await page.locator('.tab[data-resource-name="app.py"]').first().click();
    const err = await waitUntil(() => page.locator('.monaco-editor .view-overlays .squiggly-error').count(), 20000);
    check('useBundled: changed dbos.severity applied live (error squiggle)', err > 0, err);
    let saved = null;
    try { saved = JSON.parse(fs.readFileSync(cfg.settingsFile, 'utf8')); } catch { /* reported below */ }
    check('useBundled: settings.json saved as valid JSON', saved?.['dbos.severity']?.DBOS101 === 'error', fs.readFileSync(cfg.settingsFile, 'utf8'));
    await hoverCheck(page, 'useBundled: hover on DBOS.sleep mentions sleep_async');
    await shot(page, 'vscode-use-bundled.png');
    const log = readChannelLog();
    const line = log.split('\n').find((l) => /Starting DBOS language server/.test(l)) ?? '';
    check('useBundled: server launched from bundled/tool/lsp_server.py', /bundled[\\/]tool[\\/]lsp_server\.py/.test(line) && /useBundled/.test(line), line);
}

/** Opens the file; checks that the DBOS101 row and its squiggle appear (checks named `label: ...`). */
async function diagnosticShown(page, label) {
    await openFile(page);
    const ok = await waitForDiagnostic(page, 60000, label);
    if (ok) {
        const n = await waitUntil(() => squiggles(page), 10000);
        check(`${label}: squiggle under DBOS.sleep(30) in the editor`, n > 0, n);
    }
}

async function fallback(page) {
    // no dbos-lsp installed anywhere and no dbos.* settings: the .vsix's own server must start
    await diagnosticShown(page, 'fallback');
    await shot(page, 'vscode-bundled-fallback.png');
    const log = readChannelLog();
    const info = log.split('\n').filter((l) => /using the server bundled in the extension/.test(l));
    check('fallback: one info line says the bundled server is used', info.length === 1 && /\[info\]/.test(info[0]), info);
    const line = log.split('\n').find((l) => /Starting DBOS language server/.test(l)) ?? '';
    check('fallback: server launched from bundled/tool/lsp_server.py', /bundled[\\/]tool[\\/]lsp_server\.py/.test(line) && /bundled fallback/.test(line), line);
    const toasts = (await page.locator('.notifications-toasts .notification-toast').allInnerTexts()).map(norm);
    check('fallback: no error notification', !toasts.some((t) => /could not be started/.test(t)), toasts);
}

async function interpreter(page) {
    // dbos.interpreter set, and the workspace holds a dbos_lsp/ package of its own: the
    // installed server must run, not the workspace's package (test_vscode.py checks its marker)
    await diagnosticShown(page, 'interpreter');
    const line = readChannelLog().split('\n').find((l) => /Starting DBOS language server/.test(l)) ?? '';
    check('interpreter: server started as <python> -m dbos_lsp off the working directory', /-m dbos_lsp \(working directory off sys\.path\)/.test(line) && /dbos\.interpreter/.test(line), line);
}

async function restricted(page) {
    // an untrusted workspace whose .vscode/settings.json sets dbos.path and dbos.interpreter
    // to a script: the extension runs (limited support) but never starts what the workspace
    // chose (test_vscode.py checks the script's marker)
    await diagnosticShown(page, 'restricted');
    const log = readChannelLog();
    check('restricted: the extension knows it is in Restricted Mode', /Restricted Mode/.test(log), log.slice(-1500));
    const line = log.split('\n').find((l) => /Starting DBOS language server/.test(l)) ?? '';
    check('restricted: server not started from a workspace setting', !/dbos\.path|dbos\.interpreter/.test(line), line);
}

async function badpath(page) {
    await openFile(page);
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'could not be started' });
    const ok = await toast.first().waitFor({ timeout: 30000 }).then(() => true, () => false);
    const texts = (await page.locator('.notifications-toasts .notification-toast').allInnerTexts()).map(norm);
    check('bad dbos.path: error notification "could not be started"', ok, texts);
    check('bad dbos.path: message names the command', texts.some((t) => t.includes('/nonexistent/dbos-lsp')), texts);
    check('bad dbos.path: exactly one DBOS error notification', texts.filter((t) => /DBOS/.test(t)).length === 1, texts);
    await shot(page, 'vscode-error-bad-path.png');
    check('bad dbos.path: no DBOS101 diagnostics', !(await problemRows(page)).some((r) => /DBOS101/.test(r)));
}

(async () => {
    try {
        browser = await chromium.launch({
            executablePath: cfg.chromium || '/usr/bin/chromium',
            headless: true,
            timeout: 30000,
            // headless: true adds --headless; launch() always uses a fresh temporary profile (user-data-dir)
            args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        });
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        page.setDefaultTimeout(15000);
        page.on('pageerror', (e) => process.stderr.write(`pageerror: ${e.message}\n`));
        const scenarios = { full, bundled, fallback, interpreter, restricted, badpath };
        if (!scenarios[cfg.scenario]) throw new Error(`unknown scenario ${cfg.scenario}`);
        await scenarios[cfg.scenario](page);
    } catch (e) {
        check('no exception', false, String(e?.stack ?? e).slice(0, 2000));
        try {
            const pages = browser?.contexts().flatMap((c) => c.pages()) ?? [];
            if (pages[0]) await shot(pages[0], `error-${cfg.scenario}.png`);
        } catch { /* ignore */ }
    } finally {
        clearTimeout(deadline);
        emit();
        try { await browser?.close(); } catch { /* ignore */ }
        process.exit(checks.every((c) => c.pass) ? 0 : 1);
    }
})();
