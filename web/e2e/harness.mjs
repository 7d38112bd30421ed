// What the browser tests stand on: a real `cairn serve` on a fresh SQLite file and a free
// port, and Debian's Chromium driven by playwright-core (the browser cannot be downloaded
// here). Without the binary or the browser the tests skip, saying so loudly.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const here = new URL(".", import.meta.url).pathname;
export const BIN = resolve(process.env.CAIRN_BIN ?? join(here, "../../target/debug/cairn"));
export const CHROMIUM = process.env.CAIRN_CHROMIUM ?? "/usr/bin/chromium";
export const OWNER = { email: "owner@example.com", password: "correct horse battery" };
export const TOKEN = "e2e-token-0123456789abcdef";
const SHOTS = process.env.CAIRN_SCREENSHOTS ?? join(tmpdir(), "cairn-screenshots");

/** Why the browser tests cannot run here, or null. */
export function missing() {
  if (!existsSync(BIN)) return `no cairn binary at ${BIN} (build it, or set CAIRN_BIN)`;
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CAIRN_CHROMIUM)`;
  return null;
}

/**
 * Starts `cairn serve` (with the owner and the API token in its environment unless `open`);
 * resolves once it listens.
 */
export async function serve({ open = false, args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "cairn-e2e-"));
  const child = spawn(BIN, ["serve", "--listen", "127.0.0.1:0", "--database-url", `sqlite://${dir}/cairn.db?mode=rwc`, ...args], {
    env: { ...process.env, RUST_LOG: "warn", ...(open ? {} : { CAIRN_ADMIN_EMAIL: OWNER.email, CAIRN_ADMIN_PASSWORD: OWNER.password, CAIRN_API_TOKEN: TOKEN }) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`cairn did not start within 30 s:\n${log}`)), 30000);
    const read = (chunk) => {
      log += chunk;
      const m = /listening on (http:\/\/[\d.:]+)\r?\n/i.exec(log);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => fail(new Error(`cairn exited with ${code}:\n${log}`)));
  });
  return {
    url,
    /** Calls the API with the token, as a script would. */
    async api(method, path, body) {
      const r = await fetch(url + path, {
        method,
        headers: { ...(open ? {} : { authorization: `Bearer ${TOKEN}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((ok) => (child.exitCode !== null ? ok() : child.on("exit", ok)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A browser page at 1280×800 that records the page's errors. */
export async function browse() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // A failed request is shown in place by the app; anything else logged as an error is a bug.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(`console: ${m.text()}`);
  });
  return {
    page,
    errors,
    async shot(name) {
      mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, `${name}.png`) });
    },
    close: () => browser.close(),
  };
}

/** Logs in through the login page as the owner from the environment. */
export async function logIn(page, url) {
  await page.goto(url + "/");
  await page.getByLabel("Email").fill(OWNER.email);
  await page.getByLabel("Password").fill(OWNER.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Journeys", exact: true }).waitFor();
}
