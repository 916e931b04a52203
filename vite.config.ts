import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The browser app (web/) built into dist/public, which the Switchboard server serves.
 * `npx vite` runs a dev server that proxies the API (HTTP and WebSocket) to a Switchboard
 * on SWITCHBOARD_URL (default http://localhost:3000).
 */
const target = process.env.SWITCHBOARD_URL ?? 'http://localhost:3000';

export default defineConfig({
  root: 'web',
  base: './',
  resolve: {
    // The SDK imports `ws` only when globalThis.WebSocket is missing (Node < 22): never in a browser.
    alias: { ws: fileURLToPath(new URL('./web/src/ws-stub.ts', import.meta.url)) },
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target, changeOrigin: true, ws: true },
    },
  },
  build: {
    outDir: '../dist/public',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
});
