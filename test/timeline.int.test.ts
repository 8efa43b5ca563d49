import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import { expect, test } from 'vitest';
import { chaosHtml, runChaos, FAULT_KINDS } from '../chaos/index.js';
import { startLab } from '../harness/index.js';
import { findChromium } from './support/chromium.js';

// The flags keep the browser off any network.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

test('the chaos timeline draws in a real browser: every fault band in its color, health lanes, request ticks', async () => {
  const browserBinary = await findChromium();
  expect(existsSync(browserBinary.executablePath), `no browser at ${browserBinary.source}`).toBe(true);
  const lab = await startLab({ backend: 'sim', seed: 'timeline', apiservers: 2 });
  const report = await runChaos(lab, {
    seed: 'timeline',
    durationMs: 6 * 3_600_000,
    faults: FAULT_KINDS,
    thinkMs: 10_000,
    healthEveryMs: 30_000,
  });
  await lab.close();
  const dir = mkdtempSync(join(tmpdir(), 'kmslab-timeline-'));
  writeFileSync(join(dir, 'chaos.html'), chaosHtml(report));
  const browser = await chromium.launch({
    executablePath: browserBinary.executablePath,
    args: ARGS,
    env: { ...process.env, ...browserBinary.env },
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`file://${join(dir, 'chaos.html')}`);
    // Where the browser laid out each fault band, and its fill.
    const bands = await page.$$eval('rect.fault', (rects) =>
      rects.map((r) => {
        const b = r.getBoundingClientRect();
        return { x: b.x + b.width / 2, y: b.y + b.height / 2, w: b.width, fill: r.getAttribute('fill')! };
      }),
    );
    const png = PNG.sync.read(await page.screenshot({ fullPage: true }));
    const at = (x: number, y: number) => {
      const i = (Math.round(y) * png.width + Math.round(x)) * 4;
      return `#${[png.data[i]!, png.data[i + 1]!, png.data[i + 2]!].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
    };
    expect(bands).toHaveLength(report.faults.length);
    const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const distance = (p: string, q: string) => Math.hypot(...rgb(p).map((v, i) => v - rgb(q)[i]!));
    for (const b of bands) {
      expect(b.w).toBeGreaterThan(0);
      const seen = at(b.x, b.y);
      // A wide band is its own color; an instant fault's 2-pixel line may be blended at its edges by antialiasing.
      if (b.w >= 4) expect(seen).toBe(b.fill);
      else expect(distance(seen, b.fill), `${seen} vs ${b.fill}`).toBeLessThan(distance(seen, '#ffffff'));
    }
    const count = (color: string) => {
      let n = 0;
      for (let i = 0; i < png.data.length; i += 4) {
        if (
          `#${[png.data[i]!, png.data[i + 1]!, png.data[i + 2]!].map((v) => v.toString(16).padStart(2, '0')).join('')}` ===
          color
        )
          n++;
      }
      return n;
    };
    expect(count('#74c476')).toBeGreaterThan(5_000); // healthy lanes
    expect(count('#2ca02c')).toBeGreaterThan(500); // request ticks
    expect(await page.locator('tr.holds, tr.violated, tr.undecided').count()).toBe(report.invariants.length);
    expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]); // nothing fetched from anywhere
    writeFileSync(join(dir, 'chaos.png'), PNG.sync.write(png));
  } finally {
    await browser.close();
  }
}, 120_000);
