import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The client SDK as one minified ES module for browsers: dist/browser/switchboard-client.js
 * under the folder it runs from (the repository root for the server package, packages/client for
 * the client package: the "browser" condition of their exports).
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
    // One file (`codeSplitting: false`, what rolldown's deprecated `inlineDynamicImports` was): the stub that stands in for `ws` is inlined, not left as a chunk beside it.
    // Minified (lib builds are not by default): the budget is min+gzip, see test/packaging.test.ts.
    rolldownOptions: { output: { codeSplitting: false, minify: true } },
  },
});
