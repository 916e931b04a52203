/** Answers `{cmd: 'old-garbage', action: 'start' | 'stop'}` over the IPC channel (see old-garbage.mjs). */
export function answerOldGarbage(): void;
