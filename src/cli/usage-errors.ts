import { InvalidArgumentError, type Command, type CommanderError } from 'commander';

/** Exit code of a usage mistake (unknown option or command, a missing or bad value), as `serve` has. */
export const USAGE_EXIT_CODE = 2;

/**
 * Commander's own errors on `command` (an unknown option or command, a missing argument, a
 * choice or parser refused) as ours: one `switchboard: ...` line on stderr and exit code 2.
 * `--help` and `--version` still exit 0. Commander does not pass this on to subcommands added
 * with `addCommand`: apply it to each.
 */
export function reportUsageErrors(command: Command): Command {
  return command
    .configureOutput({ outputError: (str, write) => write(`switchboard: ${ourWords(str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim())}\n`) })
    .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : USAGE_EXIT_CODE));
}

/**
 * Commander's refusal of an option's value (`option '--history <n>' argument '-1' is invalid.
 * expected ...`) in the words `serve` uses for its options (src/server/options.ts): one
 * sentence that names the option once, `--history: "-1" is not valid, expected a whole number, 0 or more`.
 */
export function ourWords(message: string): string {
  const m = /^option '(-[^' ,]+(?:, -[^' ]+)?)[^']*' argument '(.*)' is invalid\. (.*)$/s.exec(message);
  if (!m) return message;
  const flag = m[1]!.split(', ').pop()!;
  const why = m[3]!.replace(/^Allowed choices are (.*?)\.?$/, 'expected one of $1');
  return `${flag}: ${JSON.stringify(m[2])} is not valid${why.startsWith('expected ') ? ', ' : ': '}${why}`;
}

/** An option parser of whole numbers from `min` up: `--history 20`, `--timeout 5000`. */
export function wholeNumber(min: number): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number, ${min} or more`);
    return n;
  };
}
