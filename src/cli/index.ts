#!/usr/bin/env node
import { Command } from 'commander';
import { serveCommand } from './serve.js';

/** The `switchboard` command line. */
const program = new Command('switchboard')
  .description('Switchboard: real-time chat over WebSocket, SSE, long polling and short polling')
  .version('0.1.0')
  .addCommand(serveCommand());

await program.parseAsync(process.argv);
