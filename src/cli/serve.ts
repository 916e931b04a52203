import { Command, Option, type CommanderError } from 'commander';
import type { ServerConfig } from '../server/config.js';
import { handleShutdownSignals } from '../server/shutdown-signals.js';
import { OPTION_LIST, OptionError, defaultShown, flagSpec, helpText, readConfigFile, resolveConfig, type ConfigSources, type OptionKey } from '../server/options.js';

/** Ends `serve` over a usage or configuration error: one line on stderr, exit code 2. */
function fail(message: string): never {
  process.stderr.write(`switchboard: ${message.replace(/\s*\n\s*/g, ' ').trim()}\n`);
  process.exit(2);
}

/**
 * `switchboard serve`: every server option as a flag, built from the table of
 * src/server/options.ts, plus `--config FILE`. A flag beats the environment, which beats the
 * file, which beats the default. Every value is checked before anything is opened: a bad one
 * ends the command with one line on stderr and exit code 2.
 */
export function serveCommand(): Command {
  const command = new Command('serve')
    .description('run the Switchboard server')
    .configureOutput({ outputError: (message) => fail(message.replace(/^error: /, '')) })
    .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : 2));
  /** Commander's attribute name of each flag (`--redis` → `redis`) → the option's key (`redisUrl`). */
  const keyOf = new Map<string, OptionKey>();
  for (const o of OPTION_LIST) {
    const option = new Option(flagSpec(o), helpText(o));
    const shown = defaultShown(o, 'help');
    // A switch shows no default: its flag flips it, and the help text says which way.
    if (shown !== undefined && o.value.placeholder !== undefined) option.default(o.default, shown);
    command.addOption(option);
    keyOf.set(option.attributeName(), o.key);
  }
  command.addOption(new Option('--config <file>', 'JSON file of options, keyed as in the README (port, store, redisUrl...); flags and the environment override it'));
  return command.action(async (_options: unknown, self: Command) => {
    let config: ServerConfig;
    try {
      const flags: NonNullable<ConfigSources['flags']> = {};
      for (const [attribute, key] of keyOf) if (self.getOptionValueSource(attribute) === 'cli') flags[key] = self.getOptionValue(attribute) as string | boolean;
      const file = self.getOptionValue('config') as string | undefined;
      config = resolveConfig({ flags, env: process.env, ...(file !== undefined ? { file: readConfigFile(file) } : {}) });
    } catch (err) {
      if (err instanceof OptionError) fail(err.message);
      throw err;
    }
    // --workers N: this process becomes the primary, which loads no server (workers/primary.ts)...
    const cluster = (await import('node:cluster')).default;
    if (config.workers > 1 && cluster.isPrimary) {
      const { runPrimary } = await import('../server/workers/primary.js');
      await runPrimary(config);
      return;
    }
    // ... and each worker it forks runs this command again, as a node told by the primary who it is.
    const { WORKER_ENV } = await import('../server/workers/ipc-protocol.js');
    const worker = cluster.isWorker && process.env[WORKER_ENV] === '1' ? await (await import('../server/workers/worker.js')).joinPrimary(config) : undefined;
    // Loaded once the options are good: a bad one fails fast, before any store or port is opened.
    const { createSwitchboard } = await import('../server/server.js');
    let server;
    try {
      server = createSwitchboard({ ...config, ...worker?.options });
    } catch (err) {
      fail((err as Error).message);
    }
    const running = server;
    let stopping = false;
    // Once: a worker may get the primary's drain order and the terminal's SIGINT both.
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      running.context.logger.info({ signal }, 'signal received');
      const force = setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5000);
      force.unref();
      void running.close().then(() => process.exit(0));
    };
    // Before listening: once "listening" is logged a service manager may stop the server at any
    // moment, and a signal that comes before its handler kills the process without a shutdown.
    handleShutdownSignals({ logger: running.context.logger, shutdown: stop, exit: (code) => process.exit(code) });
    // Drained as a worker (a rolling restart, or the primary stopping): leaving first, so that
    // its keep-alive clients get their next requests answered, not their connections cut.
    worker?.onDrain(() => {
      running.stopAccepting();
      stop('drain');
    });
    worker?.onUnlisten(() => {
      running.context.logger.info('taking no new connection: a new worker does (rolling restart)');
      running.stopAccepting();
    });
    try {
      if (worker && config.workerAccept === 'address') {
        await worker.serveHanded(server);
        worker.ready(server, 0);
      } else {
        const port = await server.listen();
        worker?.ready(server, port);
      }
      if (config.smallHeap && !worker) {
        // One process gets V8's flags from node's command line only (src/server/v8-flags.ts).
        const { SMALL_HEAP_V8_FLAGS, missingFlags } = await import('../server/v8-flags.js');
        const missing = missingFlags(SMALL_HEAP_V8_FLAGS, process.execArgv, process.env.NODE_OPTIONS);
        if (missing.length > 0) running.context.logger.warn({ missing }, '--small-heap sets the V8 flags of workers; this single process runs without them: start node with them (npm run start:small-heap)');
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      process.stderr.write(`switchboard: cannot start: ${e.code === 'EADDRINUSE' ? `port ${config.port} is in use` : e.message}\n`);
      process.exit(1);
    }
  });
}
