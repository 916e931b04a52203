import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The client SDK as one ES module for browsers: dist/browser/switchboard-client.js
 * (the "browser" condition of the package's "./client" export).
 */
export default defineConfig({
  publicDir: false,
  resolve: {
    // Browsers have WebSocket; the SDK's fallback to the `ws` package is never reached there.
    alias: { ws: fileURLToPath(new URL('./web/src/ws-stub.ts', import.meta.url)) },
  },
  build: {
    outDir: 'dist/browser',
    emptyOutDir: false,
    target: 'es2022',
    sourcemap: true,
    lib: {
      entry: fileURLToPath(new URL('./src/client/index.ts', import.meta.url)),
      formats: ['es'],
      fileName: 'switchboard-client',
    },
    // One file: the stub that stands in for `ws` is inlined, not left as a chunk beside it.
    rolldownOptions: { output: { inlineDynamicImports: true } },
  },
});
