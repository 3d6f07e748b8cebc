/* The gpumem program (compiled to WebAssembly above this line by
 * web/build.sh) run off the page's thread. A message
 *   {id, args: ["estimate", ...], files: [File, ...]}
 * runs `gpumem ARGS` and answers {id, rc, stdout, stderr, svg, ms}.
 * Dropped files are mounted read-only under /input with WORKERFS: the readers
 * read them with pread, which WORKERFS turns into File.slice of just those
 * bytes, so a 40 GB GGUF costs only its header. */
'use strict';
let out = [];
let err = [];
const ready = createGpumem({
  print: (s) => out.push(s),
  printErr: (s) => err.push(s),
});
let mounted = false;

function mountFiles(mod, files) {
  if (mounted) mod.FS.unmount('/input');
  else mod.FS.mkdir('/input');
  mod.FS.mount(mod.WORKERFS, { files: files || [] }, '/input');
  mounted = true;
}

function joinLines(lines) {
  return lines.length ? lines.join('\n') + '\n' : '';
}

self.onmessage = async (e) => {
  const mod = await ready;
  const { id, args, files, cwd } = e.data;
  mountFiles(mod, files);
  mod.FS.chdir(cwd || '/');
  const svgPath = args.includes('--svg') ? args[args.indexOf('--svg') + 1] : null;
  out = [];
  err = [];
  const t0 = performance.now();
  const rc = mod.callMain(args);
  mod._fflush(0);
  const ms = performance.now() - t0;
  let svg = null;
  if (svgPath && rc === 0) {
    try {
      svg = mod.FS.readFile(svgPath, { encoding: 'utf8' });
      mod.FS.unlink(svgPath);
    } catch (_) {
      svg = null;
    }
  }
  self.postMessage({ id, rc, stdout: joinLines(out), stderr: joinLines(err), svg, ms });
};
