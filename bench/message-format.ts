/**
 * What reading a message's formatting costs the page (web/src/message-format.ts), against the
 * links and mentions alone (web/src/rich-text.ts's parseText, all a message went through before
 * formatting): texts of 64 KiB, the largest message by default, of ordinary prose and of nothing
 * but markers (the worst a sender can make of each rule). `npm run bench:message-format`; the
 * median of 15 runs of each, in ms, after 5 to warm up.
 */
import { parseMessage } from '../web/src/message-format.js';
import { parseText } from '../web/src/rich-text.js';

const SIZE = 64 * 1024;
const fill = (unit: string): string => unit.repeat(Math.floor(SIZE / unit.length));
const TEXTS: Record<string, string> = {
  'prose, links, mentions': fill('Some words of a message, with a link https://example.com/x and @ann. '),
  'lone stars': fill('*a '),
  'bold pairs': fill('**a** '),
  mentions: fill('@a '),
  'unclosed fences': fill('```a\n'),
  'backtick runs': fill('x``'),
  'code spans': fill('`a` '),
};

function median(run: () => void): number {
  for (let i = 0; i < 5; i++) run();
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[7] ?? 0;
}

console.log('text (64 KiB)            links+mentions ms  formatting ms');
for (const [name, text] of Object.entries(TEXTS)) {
  const before = median(() => parseText(text));
  const after = median(() => parseMessage(text));
  console.log(`${name.padEnd(24)} ${before.toFixed(2).padStart(17)}  ${after.toFixed(2).padStart(13)}`);
}
