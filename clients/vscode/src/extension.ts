// VS Code client for dbos-lsp, a pygls language server that speaks LSP over stdio.
//
// Where the server comes from (first match wins), see README.md:
//   importStrategy = fromEnvironment (default)
//     1. dbos.path                 (a command: string or [command, ...args])
//     2. dbos.interpreter          (<python> -m dbos_lsp)
//     3. the Python extension's active interpreter, if ms-python.python is installed
//        and dbos_lsp is importable there (<python> -m dbos_lsp)
//     4. dbos-lsp on PATH
//     5. none of these: the server bundled in the .vsix, as for useBundled (one info line in the log)
//   importStrategy = useBundled
//     <python> <extension>/bundled/tool/lsp_server.py, with bundled/libs first on sys.path,
//     python = dbos.interpreter, else the Python extension's interpreter, else python3 on PATH.
//
// The Python extension is optional (no extensionDependencies): code-server, VSCodium and
// test instances have no Microsoft marketplace.
import * as cp from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import {
    LanguageClient,
    LanguageClientOptions,
    RevealOutputChannelOn,
    ServerOptions,
    State,
} from 'vscode-languageclient/node';

const SECTION = 'dbos';
const NAME = 'DBOS';
const PYTHON_EXTENSION_ID = 'ms-python.python';

interface ServerCommand {
    command: string;
    args: string[];
    env: NodeJS.ProcessEnv;
    /** human-readable: which rule of the search order picked this command */
    source: string;
    /** how the log shows the arguments, when not as they are */
    shown?: string[];
}

class NoServerError extends Error {}

// `<python> -m dbos_lsp`, except that the working directory (the workspace folder) is not on
// sys.path: with a plain `-m`, a `dbos_lsp/` folder in the workspace would be imported, and
// run, instead of the installed server. Python 3.11's `-P` does this too; 3.10 lacks it.
const DROP_CWD = "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]";
const RUN_SERVER = `${DROP_CWD}; import runpy; runpy.run_module('dbos_lsp', run_name='__main__', alter_sys=True)`;
// Whether dbos_lsp is installed, without importing (running) it.
const HAS_SERVER = `${DROP_CWD}; import importlib.util; sys.exit(0 if importlib.util.find_spec('dbos_lsp') else 1)`;

function runModule(python: string[]): { args: string[]; shown: string[] } {
    return { args: [...python.slice(1), '-c', RUN_SERVER], shown: [...python.slice(1), '-m', 'dbos_lsp', '(working directory off sys.path)'] };
}

let log: vscode.LogOutputChannel;
let client: LanguageClient | undefined;
let currentSource: string | undefined;
let startCount = 0;
let queue: Promise<void> = Promise.resolve();

function workspaceFolder(): vscode.WorkspaceFolder | undefined {
    const doc = vscode.window.activeTextEditor?.document;
    return (doc && vscode.workspace.getWorkspaceFolder(doc.uri)) ?? vscode.workspace.workspaceFolders?.[0];
}

function expand(value: string, folder?: vscode.WorkspaceFolder): string {
    let v = value
        .replace(/\$\{workspaceFolder\}/g, folder?.uri.fsPath ?? '')
        .replace(/\$\{userHome\}/g, os.homedir())
        .replace(/\$\{env:([^}]+)\}/g, (_m, name: string) => process.env[name] ?? '');
    if (v === '~' || v.startsWith('~/')) {
        v = path.join(os.homedir(), v.slice(1));
    }
    return v;
}

/** A command setting may be a string (one executable) or an array [command, ...args]. */
function commandSetting(cfg: vscode.WorkspaceConfiguration, key: string, folder?: vscode.WorkspaceFolder): string[] {
    const raw = cfg.get<unknown>(key);
    const items = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : [];
    return items.filter((x): x is string => typeof x === 'string' && x.trim() !== '').map((x) => expand(x.trim(), folder));
}

function findOnPath(name: string): string | undefined {
    const exts = process.platform === 'win32' ? (process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';') : [''];
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
        if (!dir) {
            continue;
        }
        for (const ext of exts) {
            const candidate = path.join(dir, name + ext);
            try {
                fs.accessSync(candidate, fs.constants.X_OK);
                if (fs.statSync(candidate).isFile()) {
                    return candidate;
                }
            } catch {
                // not here
            }
        }
    }
    return undefined;
}

/** The interpreter selected in the Python extension, or undefined when it is not installed/usable. */
async function pythonExtensionInterpreter(resource?: vscode.Uri): Promise<string[] | undefined> {
    try {
        const ext = vscode.extensions.getExtension(PYTHON_EXTENSION_ID);
        if (!ext) {
            return undefined;
        }
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const api: any = ext.isActive ? ext.exports : await ext.activate();
        const envs = api?.environments;
        if (envs?.getActiveEnvironmentPath && envs?.resolveEnvironment) {
            const active = envs.getActiveEnvironmentPath(resource);
            const resolved = await envs.resolveEnvironment(active);
            const exe: string | undefined = resolved?.executable?.uri?.fsPath ?? active?.path;
            if (exe) {
                return [exe];
            }
        }
        const details = api?.settings?.getExecutionDetails?.(resource);
        if (Array.isArray(details?.execCommand) && details.execCommand.length > 0) {
            return details.execCommand as string[];
        }
    } catch (e) {
        log.warn(`Python extension present but its interpreter could not be read: ${e}`);
    }
    return undefined;
}

/** Whether a command can be spawned: an executable file, or a name found on PATH. */
function commandExists(command: string): boolean {
    if (path.isAbsolute(command) || command.includes('/') || command.includes(path.sep)) {
        try {
            fs.accessSync(command, fs.constants.X_OK);
            return fs.statSync(command).isFile();
        } catch {
            return false;
        }
    }
    return findOnPath(command) !== undefined;
}

function hasServerModule(python: string[]): boolean {
    try {
        const r = cp.spawnSync(python[0], [...python.slice(1), '-c', HAS_SERVER], { timeout: 15000, stdio: 'ignore', cwd: os.tmpdir() });
        return r.status === 0;
    } catch {
        return false;
    }
}

/** Whether this build of the extension carries the server (bundled/tool + bundled/libs). */
function bundledLauncher(ctx: vscode.ExtensionContext): string | undefined {
    const launcher = path.join(ctx.extensionPath, 'bundled', 'tool', 'lsp_server.py');
    return fs.existsSync(launcher) && fs.existsSync(path.join(ctx.extensionPath, 'bundled', 'libs')) ? launcher : undefined;
}

/**
 * The bundled server run by `interpreter`, else the Python extension's interpreter, else python3
 * on PATH. `why` prefixes the source ("useBundled", or the fallback when nothing is installed).
 */
async function bundledServer(launcher: string, interpreter: string[], why: string, env: NodeJS.ProcessEnv,
    folder?: vscode.WorkspaceFolder, pythonExt?: string[]): Promise<ServerCommand> {
    let python = interpreter;
    let source = `${why} + dbos.interpreter`;
    if (python.length === 0 && vscode.workspace.isTrusted) {  // Restricted Mode: see resolveServer
        python = pythonExt ?? (await pythonExtensionInterpreter(folder?.uri)) ?? [];
        source = `${why} + Python extension interpreter`;
    }
    if (python.length === 0) {
        const found = findOnPath('python3') ?? findOnPath('python');
        python = found ? [found] : [];
        source = `${why} + python3 on PATH`;
    }
    if (python.length === 0) {
        throw new NoServerError(`${why}: no Python interpreter was found for the bundled server (set dbos.interpreter, or put python3 on PATH).`);
    }
    if (!commandExists(python[0])) {
        throw new NoServerError(`The interpreter for the bundled server, ${python[0]} (${source}), does not exist or is not executable.`);
    }
    return { command: python[0], args: [...python.slice(1), launcher], env: { ...env, DBOS_LSP_IMPORT_STRATEGY: 'useBundled' }, source };
}

async function resolveServer(ctx: vscode.ExtensionContext): Promise<ServerCommand> {
    const folder = workspaceFolder();
    const cfg = vscode.workspace.getConfiguration(SECTION, folder?.uri);
    const env: NodeJS.ProcessEnv = { ...process.env };
    const strategy = cfg.get<string>('importStrategy', 'fromEnvironment');
    const explicitPath = commandSetting(cfg, 'path', folder);
    const interpreter = commandSetting(cfg, 'interpreter', folder);
    const launcher = bundledLauncher(ctx);

    if (strategy === 'useBundled') {
        if (!launcher) {
            throw new NoServerError('dbos.importStrategy is "useBundled" but this build of the extension has no bundled server '
                + `(${path.join(ctx.extensionPath, 'bundled')}).`);
        }
        if (explicitPath.length > 0) {
            log.warn('dbos.path is ignored because dbos.importStrategy is "useBundled"');
        }
        return bundledServer(launcher, interpreter, 'useBundled', env, folder);
    }

    if (explicitPath.length > 0) {
        if (!commandExists(explicitPath[0])) {
            throw new NoServerError(`dbos.path is "${explicitPath.join(' ')}", but ${explicitPath[0]} does not exist or is not executable.`);
        }
        return { command: explicitPath[0], args: explicitPath.slice(1), env, source: 'dbos.path' };
    }
    if (interpreter.length > 0) {
        if (!commandExists(interpreter[0])) {
            throw new NoServerError(`dbos.interpreter is "${interpreter.join(' ')}", but ${interpreter[0]} does not exist or is not executable.`);
        }
        return { command: interpreter[0], ...runModule(interpreter), env, source: 'dbos.interpreter' };
    }
    // Restricted Mode: the Python extension's interpreter may be the workspace's own venv,
    // which would run the workspace's .pth files; use dbos-lsp on PATH or the bundled server.
    const py = vscode.workspace.isTrusted ? await pythonExtensionInterpreter(folder?.uri) : undefined;
    if (!vscode.workspace.isTrusted) {
        log.info('Restricted Mode: the Python extension\'s interpreter is not used to start the server');
    }
    if (py) {
        if (hasServerModule(py)) {
            return { command: py[0], ...runModule(py), env, source: 'Python extension interpreter' };
        }
        log.info(`The Python extension's interpreter (${py.join(' ')}) has no dbos_lsp module; looking for dbos-lsp on PATH`);
    }
    const onPath = findOnPath('dbos-lsp');
    if (onPath) {
        return { command: onPath, args: [], env, source: 'dbos-lsp on PATH' };
    }
    const notFound = 'No dbos-lsp server found: dbos.path and dbos.interpreter are not set, ' +
        (py ? `the Python extension's interpreter has no dbos_lsp module, ` : '') + 'and dbos-lsp is not on PATH';
    if (launcher) {
        // Nothing installed: the copy inside the .vsix works with any Python >= 3.10.
        log.info(`${notFound}; using the server bundled in the extension.`);
        return bundledServer(launcher, [], 'bundled fallback', env, folder, py);
    }
    throw new NoServerError(`${notFound}.`);
}

function settingsObject(folder?: vscode.WorkspaceFolder): Record<string, unknown> {
    // A WorkspaceConfiguration serialises to the plain values of the section (functions drop out).
    return JSON.parse(JSON.stringify(vscode.workspace.getConfiguration(SECTION, folder?.uri)));
}

function showStartError(message: string): void {
    const sentence = /[.!?]$/.test(message.trim()) ? message.trim() : `${message.trim()}.`;
    const full = `DBOS: the dbos-lsp language server could not be started. ${sentence} ` +
        'Install it into your environment (pip install /path/to/dbos-lsp, a checkout of its repository), '
        + 'set "dbos.path" or "dbos.interpreter", or set "dbos.importStrategy" to "useBundled".';
    log.error(full);
    void vscode.window.showErrorMessage(full, 'Show Log', 'Open Settings').then((choice) => {
        if (choice === 'Show Log') {
            log.show();
        } else if (choice === 'Open Settings') {
            void vscode.commands.executeCommand('workbench.action.openSettings', '@ext:dbos-lsp.dbos-lsp');
        }
    });
}

async function stopClient(): Promise<void> {
    const c = client;
    client = undefined;
    if (!c) {
        return;
    }
    log.info('Stopping server');
    try {
        if (c.state === State.Running || c.state === State.Starting) {
            await c.stop(5000);
        }
    } catch (e) {
        log.warn(`Stopping the server failed: ${e}`);
    }
    try {
        await c.dispose(2000);
    } catch {
        // already gone
    }
}

async function startClient(ctx: vscode.ExtensionContext): Promise<void> {
    await stopClient();
    const n = ++startCount;
    let server: ServerCommand;
    try {
        server = await resolveServer(ctx);
    } catch (e) {
        currentSource = undefined;
        log.info(`PATH=${process.env.PATH ?? ''}`);
        showStartError(e instanceof Error ? e.message : String(e));
        return;
    }
    currentSource = server.source;
    const folder = workspaceFolder();
    const cwd = folder?.uri.fsPath ?? os.homedir();
    const cmdline = [server.command, ...(server.shown ?? server.args)].join(' ');
    log.info(`Starting DBOS language server (start #${n}): ${cmdline}  [${server.source}; cwd=${cwd}]`);

    const serverOptions: ServerOptions = { command: server.command, args: server.args, options: { cwd, env: server.env } };
    const clientOptions: LanguageClientOptions = {
        documentSelector: [
            { scheme: 'file', language: 'python' },
            { scheme: 'untitled', language: 'python' },
        ],
        outputChannel: log, // vscode-languageclient >= 10 needs a LogOutputChannel
        traceOutputChannel: log,
        revealOutputChannelOn: RevealOutputChannelOn.Never,
        initializationOptions: { settings: settingsObject(folder) },
        // -> workspace/didChangeConfiguration on changes; workspace/configuration is answered from the same section
        synchronize: { configurationSection: SECTION },
        initializationFailedHandler: (error) => {
            log.error(`Server initialization failed: ${error}`);
            return false;
        },
    };
    const c = new LanguageClient(SECTION, NAME, serverOptions, clientOptions);
    c.onDidChangeState((e) => log.info(`Server state: ${State[e.oldState]} -> ${State[e.newState]}`));
    client = c;
    try {
        await c.start();
        log.info(`Server started (start #${n}, pid ${processId(c) ?? '?'})`);
    } catch (e) {
        if (client === c) {
            client = undefined;
        }
        try {
            await c.dispose(2000);
        } catch {
            // ignore
        }
        showStartError(`Command: ${cmdline} (${server.source}). Error: ${e instanceof Error ? e.message : e}`);
    }
}

function processId(c: LanguageClient): number | undefined {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return (c as any)._serverProcess?.pid;
}

/** Serialise (re)starts: config-change storms and the restart command never overlap. */
function restart(ctx: vscode.ExtensionContext): Promise<void> {
    queue = queue.then(() => startClient(ctx)).catch((e) => log.error(`Restart failed: ${e}`));
    return queue;
}

export async function activate(ctx: vscode.ExtensionContext): Promise<void> {
    log = vscode.window.createOutputChannel(NAME, { log: true });
    ctx.subscriptions.push(
        log,
        vscode.commands.registerCommand('dbos.restart', async () => {
            log.info('Restart requested');
            await restart(ctx);
        }),
        vscode.commands.registerCommand('dbos.showLogs', () => log.show()),
        vscode.workspace.onDidGrantWorkspaceTrust(() => {
            log.info('Workspace trusted; restarting');
            void restart(ctx);
        }),
        vscode.workspace.onDidChangeConfiguration((e) => {
            if (['path', 'interpreter', 'importStrategy'].some((k) => e.affectsConfiguration(`${SECTION}.${k}`))) {
                log.info('Server settings changed; restarting');
                void restart(ctx);
            }
        }),
    );
    try {
        const ext = vscode.extensions.getExtension(PYTHON_EXTENSION_ID);
        if (ext) {
            // eslint-disable-next-line @typescript-eslint/no-explicit-any
            const api: any = ext.isActive ? ext.exports : await ext.activate();
            const sub = api?.environments?.onDidChangeActiveEnvironmentPath?.(() => {
                if (currentSource?.includes('Python extension')) {
                    log.info('Python interpreter changed; restarting');
                    void restart(ctx);
                }
            });
            if (sub) {
                ctx.subscriptions.push(sub);
            }
        }
    } catch (e) {
        log.warn(`Could not watch the Python extension's interpreter: ${e}`);
    }
    await restart(ctx);
}

export async function deactivate(): Promise<void> {
    await stopClient();
}
