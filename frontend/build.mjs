// Bundle the docroute diagram widgets into webui/static/vendor/ (run: npm run build).
//
// Output (all generated, gitignored):
//   docroute-viewer.js   IIFE, sets window.DocrouteViewer
//   docroute-modeler.js  IIFE, sets window.DocrouteModeler
//   docroute-charts.js   IIFE, sets window.DocrouteCharts (Chart.js bars for reports)
//   docroute-pdf.js      ES module: pdf.js pages drawn into .pdf-view[data-src]
//   pdf.worker.js        pdf.js's worker (ES module), named by data-worker
//   docroute-viewer.css, docroute-modeler.css   bpmn-js/diagram-js/bpmn-font
//                        (+ properties panel) CSS and docroute-diagrams.css
//   fonts/               the bpmn icon font, referenced by the CSS
//   manifest.json        {file: sha256} for cache busting
//
// Set DOCROUTE_SOURCEMAP=1 for linked source maps.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'webui', 'static', 'vendor');
// built here first (gitignored, same file system), then moved into place
const tmpdir = join(root, 'node_modules', '.docroute-build');

const common = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  target: [ 'es2020', 'chrome100', 'firefox100', 'safari15' ],
  sourcemap: process.env.DOCROUTE_SOURCEMAP === '1' ? 'linked' : false,
  legalComments: 'eof',
  logLevel: 'warning',
  outdir: tmpdir
};

async function files(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    out.push(...(entry.isDirectory() ? await files(path) : [ path ]));
  }
  return out.sort();
}

await rm(tmpdir, { recursive: true, force: true });

await Promise.all([
  build({
    ...common,
    entryPoints: { 'docroute-viewer': 'frontend/viewer.js' },
    format: 'iife',
    globalName: 'DocrouteViewer',
    define: { 'process.env.NODE_ENV': '"production"' }
  }),
  build({
    ...common,
    entryPoints: { 'docroute-modeler': 'frontend/modeler.js' },
    format: 'iife',
    globalName: 'DocrouteModeler',
    define: { 'process.env.NODE_ENV': '"production"' }
  }),
  build({
    ...common,
    entryPoints: { 'docroute-charts': 'frontend/charts.js' },
    format: 'iife',
    globalName: 'DocrouteCharts',
    define: { 'process.env.NODE_ENV': '"production"' }
  }),
  // pdf.js is an ES module (top-level await): bundled as one, with its worker beside it.
  build({
    ...common,
    entryPoints: {
      'docroute-pdf': 'frontend/pdfview.js',
      'pdf.worker': 'node_modules/pdfjs-dist/build/pdf.worker.min.mjs'
    },
    format: 'esm',
    define: { 'process.env.NODE_ENV': '"production"' }
  }),
  build({
    ...common,
    entryPoints: {
      'docroute-viewer': 'frontend/viewer.css',
      'docroute-modeler': 'frontend/modeler.css'
    },
    loader: { '.eot': 'file', '.svg': 'file', '.ttf': 'file', '.woff': 'file', '.woff2': 'file' },
    assetNames: 'fonts/[name]-[hash]'
  })
]);

const manifest = {};
for (const path of await files(tmpdir)) {
  manifest[relative(tmpdir, path)] = createHash('sha256').update(await readFile(path)).digest('hex');
}
await writeFile(join(tmpdir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

// Replace the old output in one step, so no stale font or bundle lingers.
await rm(outdir, { recursive: true, force: true });
await rename(tmpdir, outdir);

for (const [ file ] of Object.entries(manifest)) {
  if (file.endsWith('.js') || file.endsWith('.css')) {
    const { size } = await stat(join(outdir, file));
    console.log(`${relative(root, join(outdir, file))}  ${(size / 1024).toFixed(0)} KiB`);
  }
}
