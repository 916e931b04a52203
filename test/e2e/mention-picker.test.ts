import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRoom, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: suggestions of people to mention', { skip }, () => {
  const suite = useHarness();

  it('typing @ suggests the people here (not oneself); arrows, Enter, Tab, a click and Escape; a name with a space goes in as its member id', async () => {
    await createRoom(suite.h, 'picks');
    const bob = await suite.open({ name: 'Bob Smith', hash: '#/room/picks', localStorage: { 'switchboard.member': 'bob-smith' } });
    const bea = await suite.open({ name: 'Bea', hash: '#/room/picks', localStorage: { 'switchboard.member': 'bea' } });
    const ann = await suite.open({ name: 'Ann', hash: '#/room/picks', localStorage: { 'switchboard.member': 'ann' } });
    const { page } = ann;
    await page.locator('.presence-list .person', { hasText: 'Bob Smith' }).waitFor();
    await page.locator('.presence-list .person', { hasText: 'Bea' }).waitFor();
    const box = page.getByRole('textbox', { name: 'Message' });
    const list = page.getByRole('listbox', { name: 'People to mention' });
    const options = list.getByRole('option');

    await box.pressSequentially('hi @');
    await list.waitFor();
    assert.deepEqual(await options.allTextContents(), ['Bea', 'Bob Smith@bob-smith'], 'sorted, oneself left out');
    await box.pressSequentially('b');
    assert.equal(await options.count(), 2);
    assert.equal(await box.getAttribute('aria-activedescendant'), await options.nth(0).getAttribute('id'));
    await box.press('ArrowDown');
    assert.equal(await options.nth(1).getAttribute('aria-selected'), 'true');
    assert.equal(await box.getAttribute('aria-activedescendant'), await options.nth(1).getAttribute('id'));
    await box.press('Enter');
    assert.equal(await box.inputValue(), 'hi @bob-smith ', 'the member id: the name has a space');
    assert.equal(await list.isVisible(), false);

    await box.pressSequentially('and @BE');
    assert.deepEqual(await options.allTextContents(), ['Bea']);
    await box.press('Tab');
    assert.equal(await box.inputValue(), 'hi @bob-smith and @Bea ');

    // Nobody of that name: no list. Escape closes it and keeps the text.
    await box.pressSequentially('@zz ');
    assert.equal(await list.isVisible(), false);
    await box.pressSequentially('@b');
    await list.waitFor();
    await box.press('Escape');
    assert.equal(await list.isVisible(), false);
    assert.equal(await box.inputValue(), 'hi @bob-smith and @Bea @zz @b');
    // A click takes one, and the box keeps the focus.
    await box.press('Backspace');
    await box.pressSequentially('B');
    await options.filter({ hasText: 'Bea' }).click();
    assert.equal(await box.inputValue(), 'hi @bob-smith and @Bea @zz @Bea ');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'message-input');

    await box.press('Enter');
    const text = 'hi @bob-smith and @Bea @zz @Bea';
    for (const [reader, me] of [[bob, '@bob-smith'], [bea, '@Bea']] as const) {
      await waitForMessage(reader.page, text);
      await reader.page.locator('ol.entries > li.msg .mention.me', { hasText: me }).first().waitFor();
    }
  });
});
