// harness.mjs: start a real `azlite serve` for a Node test file, as the Python
// harness (tests/e2e/lib/azlite_harness.py) does: free loopback ports, a fresh
// data dir, wait for <data>/endpoints.json naming our process, then read what
// `azlite env` prints.
//
//   import { startAzlite } from "./harness.mjs";
//   const az = await startAzlite();   // az.connectionString, az.account, az.key, az.blobUrl
//   await az.stop();
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BIN = process.env.AZLITE_BIN || path.join(ROOT, "build", "azlite");
// How long one client call (an azlite subcommand, a request) may take.
export const CALL_TIMEOUT_MS = 120000;

// The tests only talk to the server they start: nothing inherited from a shell
// that ran `eval "$(azlite env)"` (or an Azure login, or Azurite) may point a
// client elsewhere.  Dropped from this process too, as SDKs read it implicitly.
const RUNNER_NAMES = ["AZLITE_BIN", "AZLITE_KEEP_DATA", "AZLITE_TEST_TIMEOUT", "AZLITE_E2E_DIR",
  "AZLITE_E2E_TIMEOUT"];
const INHERITED = /^(AZURE_|AZLITE_|AZURITE_|IDENTITY_|MSI_|MSAL_|ARM_)|^(REQUESTS_CA_BUNDLE|SSL_CERT_FILE|CURL_CA_BUNDLE|NODE_EXTRA_CA_CERTS)$/;
export function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => RUNNER_NAMES.includes(k) || !INHERITED.test(k)));
}
for (const k of Object.keys(process.env)) {
  if (!RUNNER_NAMES.includes(k) && INHERITED.test(k)) delete process.env[k];
}

// fetch, bounded in time unless the caller brings its own signal.
export function fetchBounded(url, opts = {}) {
  return fetch(url, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS), ...opts });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Azlite {
  constructor() {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "azlite-node-"));
    this.logPath = path.join(this.dataDir, "serve.log");
    this.proc = null;
    this.env = {};
  }

  args() {
    return ["--data-dir", this.dataDir, "--mgmt-port", String(this.ports.mgmt),
      "--blob-port", String(this.ports.blob), "--blob-tls-port", String(this.ports.blobTls),
      "--dfs-port", String(this.ports.dfs)];
  }

  async start(timeoutMs = 30000) {
    if (!this.ports) {
      this.ports = { mgmt: await freePort(), blob: await freePort(), blobTls: await freePort(),
        dfs: await freePort() };
    }
    const log = fs.openSync(this.logPath, "a");
    this.proc = spawn(BIN, ["serve", "--log-level", "info", ...this.args()],
      { stdio: ["ignore", log, log], env: cleanEnv() });
    fs.closeSync(log);
    let exited = null;
    this.proc.on("exit", (code) => { exited = code; });
    const ready = path.join(this.dataDir, "endpoints.json");
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited !== null) throw new Error("azlite exited: " + this.readLog());
      try {
        if (JSON.parse(fs.readFileSync(ready, "utf8")).pid === this.proc.pid) break;
      } catch { /* not written yet */ }
      if (Date.now() > deadline) throw new Error("azlite did not start: " + this.readLog());
      await sleep(20);
    }
    this.env = this.loadEnv();
    const parts = Object.fromEntries(this.connectionString.split(";").filter(Boolean)
      .map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
    this.account = parts.AccountName;
    this.key = parts.AccountKey;
    this.blobUrl = parts.BlobEndpoint.replace(/\/$/, "");
    return this;
  }

  loadEnv() {
    const out = execFileSync(BIN, ["env", ...this.args()],
      { encoding: "utf8", env: cleanEnv(), timeout: 60000 });
    const env = {};
    for (const line of out.split("\n")) {
      const m = /^export ([A-Za-z_0-9]+)=(.*)$/.exec(line);
      if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, "$1");
    }
    return env;
  }

  get connectionString() {
    return this.env.AZURE_STORAGE_CONNECTION_STRING;
  }

  readLog() {
    try {
      return fs.readFileSync(this.logPath, "utf8").slice(-4000);
    } catch {
      return "";
    }
  }

  // Runs another azlite subcommand against this server (e.g. clock advance 20s).
  cli(...args) {
    return execFileSync(BIN, [...args, ...this.args()],
      { encoding: "utf8", env: cleanEnv(), timeout: 60000 });
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      const done = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGTERM");
      // Bounded: a server that ignores SIGTERM is killed, not waited for forever.
      const timer = setTimeout(() => this.proc && this.proc.kill("SIGKILL"), 20000);
      await done;
      clearTimeout(timer);
    }
    this.proc = null;
    if (!process.env.AZLITE_KEEP_DATA) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export async function startAzlite() {
  return new Azlite().start();
}
