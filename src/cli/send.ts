import { Command, Option } from 'commander';
import { connect } from '../client/index.js';
import { ConnectionError } from '../client/errors.js';
import { connectOptions, exit, runGuarded, withClientOptions, type ClientFlags } from './client-options.js';

interface SendFlags extends ClientFlags {
  clientId?: string;
  timeout: number;
}

/**
 * `switchboard send [options] <text...>`: publishes one message, prints its seq once the server
 * acknowledged it, and exits 0. Fails with one line on stderr and exit code 1 (2 for a usage
 * mistake) when the server cannot be reached, refuses the token, has no such room, or no ack
 * comes within --timeout.
 */
export function sendCommand(): Command {
  return withClientOptions(new Command('send'), 'cli')
    .description('publish one message; prints its seq once acknowledged')
    .argument('<text...>', 'the message (words are joined with spaces)')
    .addOption(new Option('--client-id <id>', 'client message id: sending again with the same id stores it once'))
    .addOption(new Option('--timeout <ms>', 'give up when no ack comes within this').default(15_000).argParser(Number))
    .action(async (words: string[], flags: SendFlags) => {
      await runGuarded(flags, async () => {
        const client = await connect(connectOptions(flags, flags.name ?? 'cli'));
        let timer: NodeJS.Timeout | undefined;
        try {
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new ConnectionError('TIMEOUT', `no ack within ${flags.timeout} ms`)), flags.timeout);
          });
          const ack = await Promise.race([client.publish(words.join(' '), flags.clientId ? { clientId: flags.clientId } : {}), timeout]);
          process.stdout.write(`${ack.seq}\n`);
        } finally {
          clearTimeout(timer);
          await client.close();
        }
        exit(0);
      });
    });
}
