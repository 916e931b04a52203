import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRoom, send, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

/** The text part of the stored message that starts with `start`. */
function bubbleText(page: import('playwright-core').Page, start: string) {
  return page.locator('ol.entries:not(.pending-entries) > li.msg .text').filter({ hasText: start });
}

describe('web app: formatting in messages (bold, italic, strikethrough, code)', { skip }, () => {
  const suite = useHarness();

  it('shows the formatting as elements, code as written, and a code block that scrolls inside its bubble', async () => {
    await createRoom(suite.h, 'formatting');
    const a = await suite.open({ name: 'Fay', hash: '#/room/formatting' });
    const b = await suite.open({ name: 'Gus', hash: '#/room/formatting', viewport: { width: 390, height: 844 } });
    const inline = 'inline: **bold** *italic* _also_ ~~gone~~ `a **b** <i>c</i>` **see https://example.com/x_y** snake_case_name 2 * 3';
    const block = `block:\n\`\`\`ts\nconst x = "**not bold**"; // ${'a long line of code '.repeat(8)}\n<img src=x onerror="window.__pwned=1">\n\`\`\`\nafter _it_`;
    await send(a.page, inline);
    await send(a.page, block);
    await waitForMessage(b.page, 'block:');
    for (const { page } of [a, b]) {
      const text = bubbleText(page, 'inline:');
      await text.waitFor();
      assert.equal(await text.locator('strong').first().textContent(), 'bold');
      assert.deepEqual(await text.locator('em').allTextContents(), ['italic', 'also']);
      assert.equal(await text.locator('del').textContent(), 'gone');
      // Code shows its markers and markup as written, and nothing in it is formatted.
      assert.equal(await text.locator('code.msg-code').textContent(), 'a **b** <i>c</i>');
      assert.equal(await text.locator('code strong, code i').count(), 0);
      // A link in bold is still one link, whole (its `_` and the closing `**` are not part of it).
      const link = text.locator('strong a.msg-link');
      assert.equal(await link.getAttribute('href'), 'https://example.com/x_y');
      // What is not formatting stays text: underscores inside a word, a lone star.
      assert.match((await text.textContent()) ?? '', /snake_case_name 2 \* 3$/);
      assert.equal(await text.locator('strong').count(), 2);

      const code = bubbleText(page, 'block:');
      const pre = code.locator('pre.msg-pre');
      assert.equal(await pre.getAttribute('data-lang'), 'ts');
      assert.equal(await pre.textContent(), `const x = "**not bold**"; // ${'a long line of code '.repeat(8)}\n<img src=x onerror="window.__pwned=1">`);
      assert.equal(await code.locator('img, strong').count(), 0);
      assert.equal(await code.locator('em').textContent(), 'it');
      assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined, 'markup ran');
      // The long line scrolls inside the block; the bubble and the conversation keep their width.
      const widths = await code.evaluate((el) => {
        const p = el.querySelector('pre')!;
        const list = document.querySelector('.messages')!;
        const bubble = el.closest('.bubble')!;
        return { pre: p.scrollWidth - p.clientWidth, list: list.scrollWidth - list.clientWidth, bubble: bubble.getBoundingClientRect().right - list.getBoundingClientRect().right };
      });
      assert.ok(widths.pre > 0 && widths.list <= 0 && widths.bubble <= 0, JSON.stringify(widths));
    }
    await b.page.screenshot({ path: '/tmp/e2e-formatting.png' });

    // A reply's quote, and the bar above the box, show the text without its markers.
    await bubbleText(a.page, 'inline:').locator('xpath=ancestor::li[1]').getByRole('button', { name: 'Reply', exact: true }).click();
    await a.page.locator('.reply-bar-quote', { hasText: 'inline: bold italic also gone a **b** <i>c</i> see' }).waitFor();
    await send(a.page, 'a reply');
    await waitForMessage(b.page, 'a reply');
    const quote = b.page.locator('ol.entries > li.msg', { hasText: 'a reply' }).locator('.quote-text');
    assert.match((await quote.textContent()) ?? '', /^inline: bold italic also gone a \*\*b\*\* <i>c<\/i> see https:\/\/example\.com\/x_y/);
  });

  it('Ctrl+B, Ctrl+I and Ctrl+Shift+X put the markers around the selection, or take them off, undoably; in the edit box too', async () => {
    await createRoom(suite.h, 'format-keys');
    const { page } = await suite.open({ name: 'Kay', hash: '#/room/format-keys' });
    const box = page.getByRole('textbox', { name: 'Message' });
    await box.pressSequentially('make this bold');
    await box.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(10, 14));
    await box.press('Control+b');
    assert.equal(await box.inputValue(), 'make this **bold**');
    assert.deepEqual(await box.evaluate((el: HTMLTextAreaElement) => [el.selectionStart, el.selectionEnd]), [12, 16], 'the word stays selected');
    await box.press('Control+b');
    assert.equal(await box.inputValue(), 'make this bold', 'again: off');
    await box.press('Control+z');
    assert.equal(await box.inputValue(), 'make this **bold**', 'one step of undo');
    // No selection: the caret lands between the markers.
    await box.press('End');
    await box.pressSequentially(' and ');
    await box.press('Control+i');
    await box.pressSequentially('this');
    await box.press('End');
    await box.pressSequentially(' not ');
    await box.press('Control+Shift+X');
    await box.pressSequentially('that');
    assert.equal(await box.inputValue(), 'make this **bold** and _this_ not ~~that~~');
    await box.press('Enter');
    const shown = bubbleText(page, 'make this');
    await shown.locator('strong', { hasText: 'bold' }).waitFor();
    assert.equal(await shown.locator('em').textContent(), 'this');
    assert.equal(await shown.locator('del').textContent(), 'that');

    // The edit box.
    await shown.locator('xpath=ancestor::li[1]').getByRole('button', { name: 'Edit', exact: true }).click();
    const edit = page.getByRole('textbox', { name: 'Edit message' });
    await edit.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(0, 4));
    await edit.press('Control+i');
    assert.equal(await edit.inputValue(), '_make_ this **bold** and _this_ not ~~that~~');
  });
});
