import { Command, Option } from 'commander';
import { connect } from '../client/index.js';
import { ConnectionError } from '../client/errors.js';
import type { JsonValue, MessagePayload } from '../client/types.js';
import { SwitchboardError } from '../protocol/errors.js';
import { connectOptions, exit, runGuarded, withClientOptions, type ClientFlags } from './client-options.js';
import { wholeNumber } from './usage-errors.js';

interface SendFlags extends ClientFlags {
  clientId?: string;
  timeout: number;
  data?: string;
  event?: string;
}

/**
 * `switchboard send [options] [text...]`: publishes one message (a text, or `--data` JSON with
 * an optional `--event` name, or both), prints its seq once the server acknowledged it, and
 * exits 0. Fails with one line on stderr and exit code 1 (2 for a usage mistake: no text and no
 * --data, --data that is not JSON) when the server cannot be reached, refuses the token, has no
 * such room, or no ack comes within --timeout.
 */
export function sendCommand(): Command {
  return withClientOptions(new Command('send'), 'cli')
    .description('publish one message; prints its seq once acknowledged')
    .argument('[text...]', 'the message (words are joined with spaces); optional with --data')
    .addOption(new Option('--data <json>', 'application data sent with the message: any JSON value'))
    .addOption(new Option('--event <name>', 'application event name: 1-64 of A-Z a-z 0-9 _ . : -'))
    .addOption(new Option('--client-id <id>', 'client message id: sending again with the same id stores it once'))
    .addOption(new Option('--timeout <ms>', 'give up when no ack comes within this').default(15_000).argParser(wholeNumber(1)))
    .action(async (words: string[], flags: SendFlags) => {
      await runGuarded(flags, async () => {
        const message = payloadOf(words, flags);
        const client = await connect(connectOptions(flags, flags.name ?? 'cli'));
        let timer: NodeJS.Timeout | undefined;
        try {
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new ConnectionError('TIMEOUT', `no ack within ${flags.timeout} ms`)), flags.timeout);
          });
          const ack = await Promise.race([client.publish(message, flags.clientId ? { clientId: flags.clientId } : {}), timeout]);
          process.stdout.write(`${ack.seq}\n`);
        } finally {
          clearTimeout(timer);
          await client.close();
        }
        exit(0);
      });
    });
}

/** The message the words and flags make; BAD_REQUEST (a usage mistake) when there is nothing to send or --data is not JSON. */
function payloadOf(words: string[], flags: SendFlags): MessagePayload {
  const text = words.join(' ');
  let data: JsonValue | undefined;
  if (flags.data !== undefined) {
    try {
      data = JSON.parse(flags.data) as JsonValue;
    } catch {
      throw new SwitchboardError('BAD_REQUEST', '--data is not JSON');
    }
  }
  // JSON null is no data, as the server counts it (TEXT_REQUIRED).
  if (text === '' && (data === undefined || data === null)) throw new SwitchboardError('BAD_REQUEST', 'nothing to send: give a text, or --data other than null');
  return { ...(text !== '' ? { text } : {}), ...(data !== undefined ? { data } : {}), ...(flags.event !== undefined ? { event: flags.event } : {}) };
}
