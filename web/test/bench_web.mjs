// One estimate in the browser: the page's gpumem (WebAssembly, in a worker)
// runs `gpumem estimate llama-3.1-8b --batch 8 --context 4096 --json` RUNS
// times; prints the mean time inside the worker (the whole command: options,
// catalog load, estimate, JSON) and the mean round trip from the page.
//
//   node web/test/bench_web.mjs [RUNS]      (after bash web/build.sh)
import { launchChromium, servePage } from './browser.mjs';

const runs = Number(process.argv[2] || 500);
const { server, base } = await servePage();
const browser = await launchChromium();
const page = await browser.newPage();
await page.goto(base);
await page.waitForSelector('body[data-ready="true"]');
const r = await page.evaluate(async (n) => {
  const args = ['estimate', 'llama-3.1-8b', '--batch', '8', '--context', '4096', '--json'];
  await window.gpumem(args);
  let inside = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) inside += (await window.gpumem(args)).ms;
  // Means over the runs: a page's clock ticks in 0.1 ms steps, too coarse for one run.
  return { inside: inside / n, trip: (performance.now() - t0) / n };
}, runs);
console.log(`browser (WebAssembly): gpumem estimate ... --json   ${(r.inside * 1000).toFixed(0)} us in the worker, ` +
  `${(r.trip * 1000).toFixed(0)} us page round trip (mean of ${runs}; Chromium ${browser.version()})`);
await browser.close();
server.close();
