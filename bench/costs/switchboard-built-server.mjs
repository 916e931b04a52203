// Switchboard as `npm start` runs it: the built JavaScript (dist/, `npm run build` first), not
// TypeScript through tsx, whose transforms (a `__name` call per closure made) cost CPU per request.
// Same settings as bench/servers/switchboard-server.ts.
import { createSwitchboard } from '../../dist/src/server/server.js';
import { answerStats } from './built-ipc.mjs';
import { builtBenchOptions } from './built-options.mjs';

const server = createSwitchboard(builtBenchOptions());
const port = await server.listen();
await server.hub.createRoom('bench');
answerStats();
process.send?.({ port });
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
