/* The page: turns the form into the arguments of a `gpumem` command, runs that
 * command in the WebAssembly build (worker.js), and shows what it prints.
 * Every number on the page is the command's own output, never recomputed here. */
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const GiB = 1024 ** 3;

  /* ---------------------------------------------------------------- worker */
  const b64 = $('gpumem-worker').textContent.trim();
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const worker = new Worker(URL.createObjectURL(new Blob([bytes], { type: 'text/javascript' })));
  const pending = new Map();
  let nextId = 1;
  worker.onmessage = (e) => {
    const done = pending.get(e.data.id);
    pending.delete(e.data.id);
    done(e.data);
  };
  let files = []; // the dropped or chosen File objects, mounted under /input
  /** Runs `gpumem ...args`; resolves to {rc, stdout, stderr, svg, ms}. */
  function gpumem(args) {
    return new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      // One file runs from /input by its own name, so that the command the
      // page shows is the one a user types beside the file.
      worker.postMessage({ id, args, files, cwd: files.length === 1 ? '/input' : '/' });
    });
  }
  window.gpumem = gpumem; // for the console, the browser test and bench/

  /* ------------------------------------------------------------ settings */
  // Form fields passed as `--NAME VALUE` when visible and not empty.
  const FLAGS = ['dtype', 'context', 'batch', 'new-tokens', 'attn', 'quant', 'images',
    'device-map', 'kv-dtype', 'gpu-memory-utilization', 'target-concurrency', 'max-model-len',
    'quantization', 'n-gpu-layers', 'cache-type-k', 'cache-type-v', 'parallel', 'tensor-split',
    'pooling', 'llamacpp-version',
    'method', 'optimizer', 'precision', 'checkpointing', 'seq', 'zero'];
  // Selects whose choice is a CLI switch of its own: field -> {value: flag}.
  const SWITCHES = {
    'hybrid-kv-cache-manager': { enable: '--enable-hybrid-kv-cache-manager',
      disable: '--disable-hybrid-kv-cache-manager' },
    'llamacpp-task': { embedding: '--embedding', rerank: '--rerank' },
  };
  // vLLM's JSON-valued options, built from plain fields: flag -> {field: key}.
  const JSON_FLAGS = {
    '--limit-mm-per-prompt': { 'mm-images': 'image', 'mm-videos': 'video' },
    '--mm-processor-kwargs': { 'mm-max-pixels': 'max_pixels' },
  };
  const JSON_FIELDS = Object.values(JSON_FLAGS).flatMap((f) => Object.keys(f));
  const STATE = ['model', 'gpu', 'gpu2', 'gpus', 'memory', 'share', 'engine', 'mode', ...FLAGS,
    ...Object.keys(SWITCHES), ...JSON_FIELDS];
  const gpuMemory = {}; // catalog id -> {memory_bytes, unified}
  const form = $('form');

  const isGguf = () => files.length === 1 && /\.gguf$/i.test(files[0].name);
  const effectiveEngine = () => $('engine').value || (isGguf() ? 'llamacpp' : 'transformers');

  function visible(el) {
    const mode = $('mode').value || 'inference';
    const engine = effectiveEngine();
    for (let node = el; node && node !== form; node = node.parentElement) {
      if (node.dataset.mode && !node.dataset.mode.split(' ').includes(mode)) return false;
      if (node.dataset.engine && !node.dataset.engine.split(' ').includes(engine)) return false;
      if (node.dataset.unified && !(gpuMemory[$('gpu').value] || {}).unified) return false;
    }
    return true;
  }

  function showRelevantFields() {
    document.querySelectorAll('[data-mode], [data-engine], [data-unified]').forEach((el) => {
      el.hidden = !visible(el);
    });
  }

  function modelArg() {
    if (files.length === 1) return files[0].name;
    if (files.length > 1) return '/input';
    return $('model').value;
  }

  /** The `gpumem estimate` arguments the form stands for. */
  function estimateArgs() {
    const args = ['estimate', modelArg()];
    if ($('engine').value) args.push('--engine', $('engine').value);
    if ($('mode').value === 'train') args.push('--train');
    args.push(...gpuArgs());
    if ($('gpus').value) args.push('--gpus', $('gpus').value);
    for (const name of FLAGS) {
      const el = $(name);
      if (el.value !== '' && visible(el)) args.push('--' + name, el.value);
    }
    for (const [name, flags] of Object.entries(SWITCHES)) {
      const el = $(name);
      if (Object.hasOwn(flags, el.value) && visible(el)) args.push(flags[el.value]);
    }
    for (const [flag, fields] of Object.entries(JSON_FLAGS)) {
      const obj = {};
      for (const [name, key] of Object.entries(fields)) {
        const el = $(name);
        if (el.value !== '' && visible(el)) obj[key] = Number(el.value);
      }
      if (Object.keys(obj).length) args.push(flag, JSON.stringify(obj));
    }
    return args;
  }

  /** --gpu (a list with the second GPU) and --budget (a custom size, or the
   *  share of a Mac's unified memory, in bytes). */
  function gpuArgs() {
    const gpu = $('gpu').value;
    if (!gpu) return [];
    const args = ['--gpu', gpu + (visible($('gpu2')) && $('gpu2').value ? ',' + $('gpu2').value : '')];
    if ($('memory').value.trim()) {
      args.push('--budget', $('memory').value.trim().replace(/ /g, ''));
    } else if (visible($('share')) && $('share').value) {
      const share = Number($('share').value) / 100;
      args.push('--budget', String(Math.floor(gpuMemory[gpu].memory_bytes * share)));
    }
    return args;
  }

  function shellWord(s) {
    return /^[A-Za-z0-9_.,:/=@+-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'";
  }
  /** The command as a user types it (MODEL_DIR: the directory of the files they chose). */
  function commandLine(args) {
    const shown = args.map((a) => (a === '/input' ? 'MODEL_DIR' : a));
    return 'gpumem ' + shown.map(shellWord).join(' ');
  }

  function saveToHash() {
    const p = new URLSearchParams();
    for (const name of STATE) {
      const el = $(name);
      if (el.value !== '' && !(name === 'model' && files.length)) p.set(name, el.value);
    }
    const url = location.pathname + location.search + '#' + p.toString();
    history.replaceState(null, '', url);
    $('permalink').href = url;
  }

  const defaults = {}; // field -> value at start, for what a permalink leaves out
  function loadFromHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    for (const name of STATE) {
      const el = $(name);
      const value = p.has(name) ? p.get(name) : defaults[name];
      if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === value)) {
        el.add(new Option(value, value)); // keep what the link says; gpumem judges it
      }
      el.value = value;
    }
  }

  /* -------------------------------------------------------------- render */
  const fmt = (bytes) => (bytes / GiB).toFixed(2);

  function renderBreakdown(report) {
    const tbody = $('breakdown').querySelector('tbody');
    tbody.replaceChildren();
    for (const dev of report.devices || []) {
      for (const c of dev.components) {
        const tr = document.createElement('tr');
        for (const [text, cls] of [[dev.name, ''], [c.name, ''], [fmt(c.bytes), 'num'], [c.note || '', '']]) {
          const td = document.createElement('td');
          td.textContent = text;
          if (cls) td.className = cls;
          tr.append(td);
        }
        tbody.append(tr);
      }
    }
  }

  function renderVerdict(report) {
    const v = $('verdict');
    const per = report.per_gpu_bytes;
    v.className = 'verdict';
    if (!report.gpu) {
      v.textContent = `Needs ${fmt(per)} GiB per GPU (choose a GPU to see whether it fits).`;
      return;
    }
    if (report.targets) {
      const each = report.targets.map((t) => `${t.device} (${t.gpu}) ${fmt(t.bytes)} of ${fmt(t.budget_bytes - t.margin_bytes)} GiB`);
      v.classList.add(report.fits ? 'fits' : 'nofit');
      v.textContent = `${report.fits ? 'Fits' : 'Does not fit'}: ${each.join(', ')}; ` +
        (report.fits ? `${fmt(report.headroom_bytes)} GiB headroom on the tightest GPU.`
          : `short by ${fmt(-report.headroom_bytes)} GiB on the tightest GPU.`);
      return;
    }
    const g = report.gpu;
    const where = `${g.count > 1 ? g.count + ' x ' : ''}${g.name} (${fmt(g.memory_bytes)} GiB each)`;
    if (report.fits) {
      v.classList.add('fits');
      v.textContent = `Fits ${where}: needs ${fmt(per)} GiB per GPU, ${fmt(report.headroom_bytes)} GiB headroom.`;
    } else {
      v.classList.add('nofit');
      v.textContent = `Does not fit ${where}: needs ${fmt(per)} GiB per GPU, short by ${fmt(-report.headroom_bytes)} GiB.`;
    }
  }

  function renderSvg(svg) {
    const chart = $('chart');
    chart.replaceChildren();
    if (!svg) return;
    const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
    const root = doc.documentElement;
    if (root.nodeName !== 'svg') return;
    root.setAttribute('role', 'img');
    chart.append(document.importNode(root, true));
  }

  /** gpumem's message without its program prefix; /input/NAME is the user's file. */
  function plain(stderr) {
    return stderr.replace(/^gpumem: (error: )?/gm, '').replaceAll('/input/', '').trim();
  }

  function showError(stderr) {
    const e = $('error');
    e.hidden = !stderr;
    e.textContent = stderr ? plain(stderr) : '';
  }

  let generation = 0;
  async function update() {
    showRelevantFields();
    saveToHash();
    const mine = ++generation;
    const args = estimateArgs();
    $('command').textContent = commandLine([...args, '--json']);
    $('result').setAttribute('aria-busy', 'true');
    const json = await gpumem([...args, '--json', '--svg', '/tmp/breakdown.svg']);
    if (mine !== generation) return;
    const text = await gpumem([...args, '--breakdown']);
    if (mine !== generation) return;
    $('json').textContent = json.stdout;
    $('text').textContent = text.stdout;
    $('timing').textContent = `gpumem (WebAssembly) answered in ${json.ms.toFixed(1)} ms.`;
    if (json.rc !== 0) {
      showError(json.stderr);
      $('verdict').textContent = 'No answer for these settings.';
      $('verdict').className = 'verdict nofit';
      renderSvg(null);
      renderBreakdown({});
      $('max-context').textContent = '–';
      $('fit-flags').textContent = '–';
      settled(mine);
      return;
    }
    showError('');
    const report = JSON.parse(json.stdout);
    renderVerdict(report);
    renderSvg(json.svg);
    renderBreakdown(report);
    await renderMaxContext(args, mine);
    await renderFitFlags(mine);
    settled(mine);
  }

  /** aria-busy goes false only when the latest update has drawn everything. */
  function settled(mine) {
    if (mine === generation) $('result').setAttribute('aria-busy', 'false');
  }

  async function renderMaxContext(args, mine) {
    const out = $('max-context');
    if (!$('gpu').value || $('mode').value === 'train' || effectiveEngine() === 'simple') {
      out.textContent = $('gpu').value ? 'not asked for this workload' : 'choose a GPU';
      return;
    }
    const r = await gpumem([...args.filter((a, i) => a !== '--context' && args[i - 1] !== '--context'),
      '--max-context', '--json']);
    if (mine !== generation) return;
    out.textContent = r.rc === 0 ? `${JSON.parse(r.stdout).settings.context} tokens` : plain(r.stderr);
  }

  async function renderFitFlags(mine) {
    const out = $('fit-flags');
    const par = $('fit-parallel');
    if (!isGguf() || !$('gpu').value || $('mode').value === 'train') {
      out.textContent = isGguf() ? 'choose a GPU' : 'for GGUF files (llama.cpp)';
      par.textContent = '–';
      return;
    }
    const args = ['fit', modelArg(), ...gpuArgs()];
    if ($('context').value) args.push('--ctx-size', $('context').value);
    if ($('llamacpp-version').value && visible($('llamacpp-version'))) {
      args.push('--llamacpp-version', $('llamacpp-version').value);
    }
    const r = await gpumem([...args, '--json']);
    if (mine !== generation) return;
    if (r.rc !== 0) {
      out.textContent = plain(r.stderr);
      par.textContent = '–';
      return;
    }
    const plan = JSON.parse(r.stdout).plan;
    out.textContent = plan.flags;
    par.textContent = plan.max_parallel
      ? `up to ${plan.max_parallel} at ${plan.parallel_context} tokens each ` +
        `(-c ${plan.max_parallel * plan.parallel_context} -np ${plan.max_parallel})`
      : 'not one with every layer on the GPU';
  }

  /* --------------------------------------------------------------- files */
  function setFiles(list) {
    files = [...list];
    $('model').disabled = files.length > 0;
    $('clear-files').hidden = files.length === 0;
    const total = files.reduce((n, f) => n + f.size, 0);
    $('file-status').textContent = files.length
      ? `${files.map((f) => f.name).join(', ')} (${fmt(total)} GiB on disk; only headers are read)`
      : '';
    update();
  }

  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    setFiles(e.dataTransfer.files);
  });
  drop.addEventListener('keydown', (e) => {
    if (e.target === drop && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      $('files').click();
    }
  });
  $('files').addEventListener('change', (e) => setFiles(e.target.files));
  $('clear-files').addEventListener('click', () => {
    $('files').value = '';
    setFiles([]);
  });

  /* ---------------------------------------------------------------- start */
  async function start() {
    const [models, gpus, version] = await Promise.all([
      gpumem(['models', '--json']), gpumem(['gpus', '--json']), gpumem(['--version'])]);
    for (const m of JSON.parse(models.stdout)) {
      $('model').add(new Option(`${m.id} (${(m.params / 1e9).toFixed(1)}B)`, m.id));
    }
    $('gpu').add(new Option('none: just the total', ''));
    $('gpu2').add(new Option('none', ''));
    for (const g of JSON.parse(gpus.stdout)) {
      gpuMemory[g.id] = g;
      $('gpu').add(new Option(`${g.id} (${fmt(g.memory_bytes)} GiB)`, g.id));
      $('gpu2').add(new Option(`${g.id} (${fmt(g.memory_bytes)} GiB)`, g.id));
    }
    $('version').textContent = version.stdout.trim().replace(/^gpumem /, '');
    $('model').value = 'llama-3.1-8b';
    $('gpu').value = 'rtx-4090';
    $('clear-files').hidden = true;
    for (const name of STATE) defaults[name] = $(name).value;
    loadFromHash();
    let timer = 0;
    form.addEventListener('input', () => {
      generation++; // an answer still being drawn is for older settings now
      $('result').setAttribute('aria-busy', 'true');
      clearTimeout(timer);
      timer = setTimeout(update, 150);
    });
    form.addEventListener('submit', (e) => e.preventDefault());
    window.addEventListener('hashchange', () => { loadFromHash(); update(); });
    await update();
    document.body.dataset.ready = 'true';
  }
  start();
})();
