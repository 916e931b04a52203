#!/usr/bin/env node
import { Command } from 'commander';
import { chatCommand } from './chat.js';
import { sendCommand } from './send.js';
import { tailCommand } from './tail.js';
import { reportUsageErrors } from './usage-errors.js';

/**
 * `serve`, with the server loaded only when it runs: the client commands (`chat`, `send`,
 * `tail`) then start without loading the server, its store drivers and logger, in about a third
 * of the time. Its own options and help are those of serve.ts (`switchboard serve --help`).
 */
function lazyServeCommand(): Command {
  return new Command('serve')
    .description('run the Switchboard server (see serve --help)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_options: unknown, command: Command) => {
      const { serveCommand } = await import('./serve.js');
      await serveCommand().name('switchboard serve').parseAsync(command.args, { from: 'user' });
    });
}

/** The `switchboard` command line: a usage mistake (an unknown command or option...) exits 2 with one line. */
const program = reportUsageErrors(new Command('switchboard'))
  .description('Switchboard: real-time chat over WebSocket, SSE, long polling and short polling')
  .version('0.1.0')
  .addCommand(lazyServeCommand())
  .addCommand(chatCommand())
  .addCommand(sendCommand())
  .addCommand(tailCommand())
  .addCommand((await import('./token.js')).tokenCommand());

await program.parseAsync(process.argv);
