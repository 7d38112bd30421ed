// The app is served by `cairn serve` from the embedded `dist/`; `npm run dev` proxies the API
// to a local `cairn serve` (CAIRN_URL, default http://127.0.0.1:8080).
import { defineConfig } from "vitest/config";

const api = process.env.CAIRN_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // React in a chunk of its own, which changes only on upgrades; React Flow stays with the
    // editor, which loads when a journey is opened. The names carry content hashes, so the
    // server lets browsers keep them.
    rollupOptions: {
      output: {
        manualChunks(id: string) {
          return /node_modules\/(react|react-dom|scheduler)\//.test(id) ? "react" : undefined;
        },
      },
      onwarn(warning, warn) {
        // React Flow marks its module "use client" for server components, which a browser build ignores.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  server: { proxy: { "/api": api, "/t": api, "/healthz": api } },
  test: { environment: "jsdom", include: ["src/**/*.test.{ts,tsx}"] },
});
