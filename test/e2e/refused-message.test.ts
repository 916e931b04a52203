import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SwitchboardError } from '../../src/protocol/errors.js';
import { messageTexts, send, skipWithoutBrowser, useHarness, waitForMessage, type AppPage, type OpenOptions } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: a message the server refuses', { skip }, () => {
  // The app checks the server's --max-message-bytes itself (below); an application's own rule,
  // which the app cannot know, is a refusal that only the server can make.
  const s = useHarness({
    hooks: {
      onPublish: ({ message }) => {
        if (message.text.length > 1000) throw new SwitchboardError('MESSAGE_TOO_LARGE', 'this application takes 1000 characters at most');
      },
    },
  });
  const open = (options: OpenOptions = {}): Promise<AppPage> => s.open(options);

  it('too large: says why, offers no Retry, and Edit puts the text back in the box (with the draft), Discard removes it', async () => {
    const { page } = await open({ name: 'Gus', transport: 'sse', viewport: { width: 360, height: 640 } });
    const long = 'Z'.repeat(1100);
    await send(page, long);
    const failed = page.locator('ol.pending-entries > li[data-state="failed"]');
    await failed.getByRole('status').filter({ hasText: 'Not sent: The message is larger than the limit' }).waitFor();
    assert.equal(await failed.getByRole('button', { name: 'Retry' }).count(), 0, 'no Retry: it would be refused again');
    await failed.getByRole('button', { name: 'Edit', exact: true }).waitFor();
    assert.ok(await failed.getByRole('button', { name: 'Discard' }).isVisible(), 'the actions are in view at the bottom');
    await page.screenshot({ path: '/tmp/e2e-refused-message.png' });

    // Edit: the text comes back before what is being typed, the bubble goes.
    const box = page.getByLabel('Message', { exact: true });
    await box.fill('a draft');
    await failed.getByRole('button', { name: 'Edit', exact: true }).click();
    assert.equal(await failed.count(), 0);
    assert.equal(await box.inputValue(), `${long}\na draft`);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'message-input');

    // Shortened, it goes; another refused one is discarded and leaves nothing behind.
    await box.fill('short enough');
    await box.press('Enter');
    await waitForMessage(page, 'short enough');
    await send(page, long);
    await failed.getByRole('button', { name: 'Discard' }).click();
    assert.equal(await failed.count(), 0);
    assert.equal(await box.inputValue(), '');
    assert.deepEqual(await messageTexts(page), ['short enough']);
  });

  it('in Compare, a refused message says why and is back in the box, not lost', async () => {
    const { page } = await open({ name: 'Hal', hash: '#/compare' });
    await page.waitForFunction(() => document.querySelectorAll('section.pane[data-status="connected"]').length === 4);
    const box = page.getByLabel('Message', { exact: true });
    const long = 'Q'.repeat(1100);
    await box.fill(long);
    await box.press('Enter');
    await page.getByText('Not sent: The message is larger than the limit').waitFor();
    assert.equal(await box.inputValue(), long, 'the text is in the box again (before: an empty box)');
  });
});

describe('web app: the server’s --max-message-bytes', { skip }, () => {
  const s = useHarness({ maxMessageBytes: 1000 });

  it('a longer message is refused in the box, naming the server’s limit, and nothing is sent (chat and Compare)', async () => {
    const { page } = await s.open({ name: 'Ida', transport: 'long-polling' });
    const box = page.getByLabel('Message', { exact: true });
    // 1,002 bytes in 501 characters: the limit is in UTF-8 bytes, as the server counts.
    const long = 'é'.repeat(501);
    await box.fill(long);
    await box.press('Enter');
    await page.getByText('This message is too long (1002 bytes; the limit is 1000).').waitFor();
    assert.equal(await box.inputValue(), long, 'the text stays in the box');
    assert.equal(await page.locator('ol.pending-entries > li').count(), 0, 'nothing pending: it was not sent');
    await box.fill('é'.repeat(500));
    await box.press('Enter');
    await waitForMessage(page, 'é'.repeat(500));

    await page.goto(`${page.url().split('#')[0]}#/compare`);
    await page.waitForFunction(() => document.querySelectorAll('section.pane[data-status="connected"]').length === 4);
    const compareBox = page.getByLabel('Message', { exact: true });
    await compareBox.fill('x'.repeat(1001));
    await compareBox.press('Enter');
    await page.getByText('This message is too long (1001 bytes; the limit is 1000).').waitFor();
  });
});
