// Browser test of the web calculator (web/dist/index.html, made by
// web/build.sh): Playwright drives Debian's chromium headless against the page
// served from 127.0.0.1, sets the form as a user would, and checks that what
// the page shows is byte for byte what the native `gpumem` prints for the same
// command line.
//
//   node web/test/web_test.mjs [--screenshot FILE]
//
// Environment: GPUMEM_CLI (native program, default build/gpumem),
// GPUMEM_BENCH_READERS (default build/bench_readers, writes the sparse 70B GGUF),
// CHROMIUM (default /usr/bin/chromium).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { launchChromium, root, servePage } from './browser.mjs';

const cli = resolve(root, process.env.GPUMEM_CLI || 'build/gpumem');
const benchReaders = resolve(root, process.env.GPUMEM_BENCH_READERS || 'build/bench_readers');
const screenshotAt = process.argv.indexOf('--screenshot');
const screenshot = screenshotAt > 0 ? resolve(process.argv[screenshotAt + 1]) : null;

let failures = 0;
let checks = 0;
function check(ok, what, detail = '') {
  checks++;
  if (ok) {
    console.log(`ok   ${what}`);
  } else {
    failures++;
    console.log(`FAIL ${what}${detail ? '\n' + detail : ''}`);
  }
}

/** Runs the native program (in directory cwd); returns {rc, stdout, stderr}. */
function native(args, cwd = root) {
  try {
    return { rc: 0, stdout: execFileSync(cli, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
  } catch (e) {
    return { rc: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The page's command line (`gpumem estimate ... --json`) as argv and the
 *  directory to run it in: a file name the test gave the page runs beside
 *  that file, as a user would; MODEL_DIR becomes the test's directory. */
// The shell words of the page's command: spaces split, '...' quotes (the
// page's shellWord writes ' as '\'').
function shellWords(command) {
  const words = [];
  let word = null;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i];
    if (ch === ' ') {
      if (word !== null) words.push(word);
      word = null;
    } else if (ch === "'") {
      const end = command.indexOf("'", i + 1);
      word = (word ?? '') + command.slice(i + 1, end);
      i = end;
    } else if (ch === '\\') {
      word = (word ?? '') + command[++i];
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

function argvOf(command, paths) {
  const words = shellWords(command);
  if (words.shift() !== 'gpumem') throw new Error('not a gpumem command: ' + command);
  let cwd = root;
  const argv = words.map((w) => {
    if (w === 'MODEL_DIR') return paths[w];
    if (paths[w]) cwd = dirname(paths[w]);
    return w;
  });
  return { argv, cwd };
}

function firstDiff(a, b) {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `first difference at byte ${i}:\n page:   ${JSON.stringify(a.slice(i, i + 80))}\n native: ${JSON.stringify(b.slice(i, i + 80))}`;
}

const { server, base } = await servePage();
const browser = await launchChromium();
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.on('pageerror', (e) => check(false, 'no page error', String(e)));

async function settled(p = page) {
  await p.waitForSelector('body[data-ready="true"]');
  await p.waitForSelector('#result[aria-busy="false"]');
}

/** Sets the form (field id -> value) the way a user does, then compares the
 *  page with the native program. */
async function setFields(fields) {
  for (const [id, value] of Object.entries(fields)) {
    const tag = await page.$eval('#' + id, (el) => el.tagName);
    if (tag === 'SELECT') await page.selectOption('#' + id, value);
    else await page.fill('#' + id, value);
  }
  await settled();
}

async function runCase(name, fields, paths = {}) {
  await setFields(fields);
  const command = await page.textContent('#command');
  const { argv, cwd } = argvOf(command, paths);
  const want = native(argv, cwd);
  const got = await page.textContent('#json');
  check(want.rc === 0 && got === want.stdout, `${name}: page JSON = \`${command}\` (${got.length} bytes)`,
    want.rc ? `native exit ${want.rc}` : firstDiff(got, want.stdout));
  const wantText = native([...argv.filter((a) => a !== '--json'), '--breakdown'], cwd);
  check(await page.textContent('#text') === wantText.stdout, `${name}: page CLI output = native --breakdown output`);
  const report = JSON.parse(want.stdout);
  const verdict = await page.textContent('#verdict');
  const gib = (b) => (b / 2 ** 30).toFixed(2);
  const says = report.targets ? report.targets.map((t) => `${t.device} (${t.gpu}) ${gib(t.bytes)} of`)
    : [`${gib(report.per_gpu_bytes)} GiB per GPU`];
  check(says.every((x) => verdict.includes(x)) && verdict.startsWith(report.fits ? 'Fits' : 'Does not fit'),
    `${name}: verdict "${verdict}" says ${says.join(', ')}, fits=${report.fits}`);
  const rows = await page.$$eval('#breakdown tbody tr', (trs) => trs.length);
  const comps = report.devices.reduce((n, d) => n + d.components.length, 0);
  check(rows === comps, `${name}: breakdown table has the ${comps} device components`);
  check(await page.$('#chart svg') !== null, `${name}: stacked bar chart drawn`);
  if (fields.gpu && fields.mode !== 'train') {
    const maxArgv = argv.filter((a, i) => a !== '--context' && argv[i - 1] !== '--context');
    const mc = native([...maxArgv.filter((a) => a !== '--json'), '--max-context', '--json'], cwd);
    const shown = await page.textContent('#max-context');
    const wantMc = mc.rc === 0 ? `${JSON.parse(mc.stdout).settings.context} tokens` : null;
    check(wantMc === null || shown === wantMc, `${name}: max context "${shown}" = native --max-context`);
  }
  return { command, argv, cwd, report };
}

/** Sets the form as runCase does, for settings the native program refuses:
 *  the page shows that program's own message (without "gpumem: error: "). */
async function errorCase(name, fields, paths = {}) {
  await setFields(fields);
  const command = await page.textContent('#command');
  const { argv, cwd } = argvOf(command, paths);
  const want = native(argv, cwd);
  const shown = await page.textContent('#error');
  const message = want.stderr.replace(/^gpumem: (error: )?/gm, '').trim();
  check(want.rc !== 0 && await page.isVisible('#error') && shown === message,
    `${name}: \`${command}\` shows the CLI's error "${shown}"`, `native exit ${want.rc}: ${want.stderr}`);
}

/** The permalink, opened in a fresh tab, gives the same command and JSON. */
async function permalinkRestores(name) {
  const href = await page.getAttribute('#permalink', 'href');
  const tab = await context.newPage();
  await tab.goto(new URL(href, base).href);
  await settled(tab);
  check(await tab.textContent('#command') === await page.textContent('#command') &&
    await tab.textContent('#json') === await page.textContent('#json'),
    `${name}: permalink ${href} restores the command and its answer`);
  await tab.close();
}

await page.goto(base);
await settled();
check(await page.textContent('#verdict') !== 'Loading gpumem…', 'page loads and answers the default settings');

// Accessibility basics: every control has a label; the page fits a phone.
const unlabelled = await page.$$eval('input, select', (els) =>
  els.filter((e) => e.type !== 'hidden' && e.labels.length === 0).map((e) => e.id));
check(unlabelled.length === 0, 'every input and select has a <label>', unlabelled.join(', '));

// 1. A catalog model on one GPU, transformers.
await runCase('llama-3.1-8b, transformers, RTX 4090, context 8192, batch 2',
  { model: 'llama-3.1-8b', gpu: 'rtx-4090', engine: 'transformers', context: '8192', batch: '2' });

// 1a. transformers' attention implementations, bitsandbytes loading and images.
const eager = await runCase('llama-3.1-8b, transformers --attn eager, context 8192, batch 2', { attn: 'eager' });
check(eager.report.settings.attn === 'eager', 'the answer models eager attention');
await runCase('llama-3.1-8b, transformers --attn flash (bf16 as stored)', { attn: 'flash' });
await errorCase('flash attention in fp32', { dtype: 'fp32' });
await runCase('llama-3.1-8b, --quant bnb-nf4-dq with flash attention', { dtype: '', quant: 'bnb-nf4-dq' });
await runCase('llama-3.1-8b, --quant bnb-int8, sdpa', { attn: '', quant: 'bnb-int8' });
await errorCase('--quant and --dtype together', { dtype: 'fp16' });
await page.selectOption('#dtype', '');
const llava = await runCase('llava-1.5-7b (CLIP tower), 2 images per sequence',
  { model: 'llava-1.5-7b', quant: '', context: '', batch: '', images: '2' });
check(llava.report.components.some((c) => c.name === 'images' && c.bytes > 0), 'the llava answer counts the images');
await runCase('gemma-3-4b-it, 1 image, eager attention', { model: 'gemma-3-4b-it', images: '1', attn: 'eager' });
await permalinkRestores('gemma-3-4b-it with --images 1 --attn eager');
await errorCase('--images on a model without a vision tower (llama-3.1-8b)', { model: 'llama-3.1-8b', attn: '' });
await page.selectOption('#engine', 'vllm');
await settled();
const vllmCommand = await page.textContent('#command');
check(!/--(attn|quant|images) /.test(vllmCommand) && !await page.isVisible('#images'),
  `transformers' controls are hidden and left out for vLLM: \`${vllmCommand}\``);
await page.selectOption('#engine', 'transformers');
await page.fill('#images', '');

// 1b. transformers' device_map="auto" over two GPUs: layers split, not tensor parallel.
const dm = await runCase('llama-3.1-70b, device_map auto over 4 x RTX 4090 (CPU offload)',
  { model: 'llama-3.1-70b', gpus: '4', context: '', batch: '', 'device-map': 'auto' });
check(dm.report.device_map !== undefined, 'the answer has the device map');
await page.fill('#gpus', '');
await page.selectOption('#device-map', '');

// 2. vLLM on a data-centre GPU.
const vllm = await runCase('qwen3-14b, vLLM, H100 SXM, max-model-len 16384, utilisation 0.9',
  { model: 'qwen3-14b', gpu: 'h100-sxm', engine: 'vllm', context: '', batch: '',
    'max-model-len': '16384', 'gpu-memory-utilization': '0.9' });

// 2b. vLLM: the utilisation 4 requests of 16384 tokens need (--target-concurrency).
const tc = await runCase('qwen3-14b, vLLM, H100, 4 concurrent requests of 16384 tokens',
  { 'gpu-memory-utilization': '', 'target-concurrency': '4' });
check(tc.report.vllm.max_concurrency >= 4, `the page's vLLM answer holds 4 requests (${tc.report.vllm.max_concurrency}x)`);
await page.fill('#target-concurrency', '');
await page.fill('#gpu-memory-utilization', '0.9');
await settled();

// The permalink reproduces the page in a fresh tab.
const link = await page.getAttribute('#permalink', 'href');
const again = await context.newPage();
await again.goto(new URL(link, base).href);
await settled(again);
check(await again.textContent('#command') === vllm.command, `permalink ${link} restores the settings`);
check(await again.textContent('#json') === await page.textContent('#json'), 'permalink page shows the same JSON');
await again.close();

// 2c. vLLM's hybrid KV cache manager (gemma3's sliding-window layers): off caches every token.
const hmaDefault = await runCase('gemma-3-4b-it, vLLM, L4, hybrid KV cache manager by default',
  { model: 'gemma-3-4b-it', gpu: 'l4', 'max-model-len': '', 'gpu-memory-utilization': '' });
const hmaOff = await runCase('gemma-3-4b-it, vLLM, L4, --disable-hybrid-kv-cache-manager',
  { 'hybrid-kv-cache-manager': 'disable' });
check(hmaOff.report.vllm.kv_cache_tokens < hmaDefault.report.vllm.kv_cache_tokens,
  `off: fewer KV tokens (${hmaOff.report.vllm.kv_cache_tokens} < ${hmaDefault.report.vllm.kv_cache_tokens})`);
await permalinkRestores('vLLM with the hybrid KV cache manager off');
const hmaOn = await runCase('gemma-3-4b-it, vLLM, L4, --enable-hybrid-kv-cache-manager',
  { 'hybrid-kv-cache-manager': 'enable' });
check(hmaOn.command.includes(' --enable-hybrid-kv-cache-manager') &&
  hmaOn.report.vllm.kv_cache_tokens === hmaDefault.report.vllm.kv_cache_tokens,
  'on: the flag is passed, as many KV tokens as the default of vLLM 0.33.0');
await page.selectOption('#hybrid-kv-cache-manager', '');

// 2d. vLLM's profiling pass over dummy images/videos (Qwen2.5-VL): no video,
// smaller images.
const qvlDefault = await runCase('qwen2.5-vl-7b, vLLM, H100, max-model-len 32768',
  { model: 'qwen2.5-vl-7b', gpu: 'h100-sxm', 'max-model-len': '32768' });
const qvl = await runCase('qwen2.5-vl-7b, vLLM, no video, images of at most 1003520 pixels',
  { 'mm-videos': '0', 'mm-max-pixels': '1003520' });
check(qvl.command.includes(`--limit-mm-per-prompt '{"video":0}'`) &&
  qvl.command.includes(`--mm-processor-kwargs '{"max_pixels":1003520}'`) &&
  qvl.report.vllm.kv_cache_tokens > qvlDefault.report.vllm.kv_cache_tokens,
  `the JSON options are passed and free KV cache (${qvl.report.vllm.kv_cache_tokens} > ${qvlDefault.report.vllm.kv_cache_tokens})`);
await permalinkRestores('vLLM Qwen2.5-VL without video, smaller images');
await page.fill('#mm-videos', '');
await page.fill('#mm-max-pixels', '');

// 3. Training: LoRA fine-tuning on two A100s with ZeRO-3.
await runCase('mistral-7b-v0.3 LoRA training, 2 x A100 80GB, ZeRO-3',
  { model: 'mistral-7b-v0.3', gpu: 'a100-sxm4-80gb', gpus: '2', engine: '', 'max-model-len': '',
    'gpu-memory-utilization': '', mode: 'train', method: 'lora', seq: '4096', zero: '3' });

// 4. A GGUF file written by gguf-py (tests/fixtures/gguf), dropped on the page.
await page.selectOption('#mode', '');
const tiny = join(root, 'tests/fixtures/gguf/tiny-llama-q4k.gguf');
await page.setInputFiles('#files', tiny);
const g1 = await runCase('tiny-llama-q4k.gguf (gguf-py fixture), llama.cpp, RTX 3060',
  { gpu: 'rtx-3060', gpus: '' }, { 'tiny-llama-q4k.gguf': tiny });
check(g1.report.engine === 'llamacpp', 'a GGUF file defaults to the llama.cpp engine');
const fit = native(['fit', tiny, '--gpu', 'rtx-3060', '--json']);
check(await page.textContent('#fit-flags') === JSON.parse(fit.stdout).plan.flags,
  `llama.cpp flags "${await page.textContent('#fit-flags')}" = gpumem fit`);
const fp = JSON.parse(fit.stdout).plan;
check((await page.textContent('#fit-parallel')).startsWith(`up to ${fp.max_parallel} at ${fp.parallel_context} tokens`),
  `parallel requests "${await page.textContent('#fit-parallel')}" = gpumem fit's max_parallel`);

// 4b. llama.cpp as an embedding model, a reranker, and older llama.cpp rules.
const emb = await runCase('tiny-llama-q4k.gguf --embedding', { 'llamacpp-task': 'embedding' },
  { 'tiny-llama-q4k.gguf': tiny });
check(emb.report.settings.model_role === 'embedding', `--embedding: the answer's model role is ${emb.report.settings.model_role}`);
await runCase('tiny-llama-q4k.gguf --embedding --pooling mean', { pooling: 'mean' }, { 'tiny-llama-q4k.gguf': tiny });
const rr = await runCase('tiny-llama-q4k.gguf --rerank', { 'llamacpp-task': 'rerank', pooling: '' },
  { 'tiny-llama-q4k.gguf': tiny });
check(rr.report.settings.pooling === 'rank', '--rerank pools by rank');
await errorCase('--rerank with --pooling mean', { pooling: 'mean' }, { 'tiny-llama-q4k.gguf': tiny });
for (const version of ['b6699', 'b5050']) {
  await runCase(`tiny-llama-q4k.gguf --llamacpp-version ${version}`,
    { 'llamacpp-task': '', pooling: '', 'llamacpp-version': version }, { 'tiny-llama-q4k.gguf': tiny });
  const fitv = native(['fit', tiny, '--gpu', 'rtx-3060', '--llamacpp-version', version, '--json']);
  check(await page.textContent('#fit-flags') === JSON.parse(fitv.stdout).plan.flags,
    `llama.cpp ${version} flags "${await page.textContent('#fit-flags')}" = gpumem fit --llamacpp-version ${version}`);
}
await page.selectOption('#llamacpp-version', '');
const bert = join(root, 'tests/fixtures/gguf/tiny-bert.gguf');
await page.setInputFiles('#files', bert);
const be = await runCase('tiny-bert.gguf (encoder) --pooling cls', { pooling: 'cls' }, { 'tiny-bert.gguf': bert });
check(be.report.settings.pooling === 'cls', 'the encoder GGUF pools by cls');
await page.selectOption('#pooling', '');

// 5. A 70B-shape Q4_K_M GGUF of ~40 GB (sparse: only its header is data):
//    the page reads the header through File.slice, never the whole file.
const dir = mkdtempSync(join(tmpdir(), 'gpumem-web-'));
execFileSync(benchReaders, [dir], { stdio: 'ignore' });
const big = join(dir, 'llama-70b-shape-q4km.gguf');
await page.setInputFiles('#files', big);
await runCase('llama-70b-shape-q4km.gguf (sparse 70B header), llama.cpp, RTX 4090 -c 8192',
  { gpu: 'rtx-4090', context: '8192' }, { 'llama-70b-shape-q4km.gguf': big });

// 5b. The same file over two different GPUs (llama.cpp -ts), and gpumem fit's flags for them.
await runCase('llama-70b-shape-q4km.gguf on rtx-4090 + rtx-3090, -c 8192',
  { gpu2: 'rtx-3090' }, { 'llama-70b-shape-q4km.gguf': big });
const fit2 = native(['fit', big, '--gpu', 'rtx-4090,rtx-3090', '--ctx-size', '8192', '--json']);
check(await page.textContent('#fit-flags') === JSON.parse(fit2.stdout).plan.flags,
  `two-GPU llama.cpp flags "${await page.textContent('#fit-flags')}" = gpumem fit`);
if (screenshot) {
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
}
await page.selectOption('#gpu2', '');

// 5c. A Mac: 75% of an M2 Ultra's unified memory, passed as --budget in bytes.
await page.click('#clear-files');
const mac = await runCase('llama-3.1-70b on m2-ultra-192gb with a 75% GPU share',
  { model: 'llama-3.1-70b', gpu: 'm2-ultra-192gb', context: '', engine: '', share: '75' });
check(mac.report.gpu.memory_bytes === Math.floor(206158430208 * 0.75),
  `75% of 192 GiB = ${Math.floor(206158430208 * 0.75)} bytes in the answer`);
await page.fill('#share', '');

// 5d. A custom card size.
await runCase('qwen3-8b on a custom 20GiB card', { model: 'qwen3-8b', gpu: 'rtx-4090', memory: '20GiB' });
await page.fill('#memory', '');

// 5e. A config.json and a sharded safetensors directory (four files chosen at
//     once are mounted as one directory, /input, which the command calls MODEL_DIR).
const config = join(root, 'data/models/qwen3-8b.json');
await page.setInputFiles('#files', config);
await runCase('a dropped config.json (qwen3-8b) on an L4', { gpu: 'l4', memory: '' },
  { 'qwen3-8b.json': config });
const sharded = join(root, 'tests/fixtures/safetensors/tiny-llama-sharded');
const inputDir = join(mkdtempSync(join(tmpdir(), 'gpumem-web-')), 'input');
mkdirSync(inputDir);
const shards = readdirSync(sharded).map((f) => {
  copyFileSync(join(sharded, f), join(inputDir, f));
  return join(inputDir, f);
});
await page.setInputFiles('#files', shards);
const st = await runCase('four dropped files: sharded safetensors + config.json', { gpu: 'rtx-3060' },
  { MODEL_DIR: inputDir });
check(st.report.model.source === 'safetensors', 'the dropped shards are read as safetensors');
await page.click('#clear-files');

// 6. A phone: nothing wider than the screen.
await page.setViewportSize({ width: 390, height: 844 });
const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
check(overflow <= 0, `no horizontal scrolling at 390 px wide (overflow ${overflow} px)`);

// 7. Bad input is an error message, not a crash.
await page.setViewportSize({ width: 1280, height: 900 });
await page.setInputFiles('#files', join(root, 'tests/bad_gguf/bad_magic.gguf'));
await settled();
const err = await page.textContent('#error');
check(await page.isVisible('#error') && /^bad_magic\.gguf: byte 0: not a GGUF file \(bad magic\)$/.test(err), `a malformed GGUF shows the reader's error: "${err.trim()}"`);

// 8. The page works opened as a local file (no server): the worker starts
//    from a blob, the WebAssembly is inlined.
const local = await context.newPage();
await local.goto('file://' + join(root, 'web/dist/index.html') + '#model=qwen3-8b&gpu=l4');
await settled(local);
const localJson = await local.textContent('#json');
check(localJson === native(['estimate', 'qwen3-8b', '--gpu', 'l4', '--json']).stdout,
  'opened from a file:// URL, the page answers as the native program does');
await local.close();

await browser.close();
server.close();
console.log(`${checks - failures} of ${checks} checks passed`);
process.exit(failures ? 1 : 0);
