// Inline PDF reading (the 正文) with pdf.js: every element .pdf-view[data-src] on the
// page is filled with the document's pages drawn on canvases, as wide as the element.
// The file comes from the attachment's /view route (the same check as a download); the
// worker is the bundled vendor/pdf.worker.js named in data-worker. No eval (strict CSP).
import { GlobalWorkerOptions, getDocument } from 'pdfjs-dist/build/pdf.mjs';

const MAX_PAGES = 50; // a longer file is read after downloading it

function note(element, text, className) {
  const p = document.createElement('p');
  p.className = className || 'muted small';
  p.textContent = text;
  element.appendChild(p);
  return p;
}

async function drawPage(pdf, number, element) {
  const page = await pdf.getPage(number);
  const width = Math.max(200, element.clientWidth || 600);
  const base = page.getViewport({ scale: 1 });
  const viewport = page.getViewport({ scale: width / base.width });
  const ratio = window.devicePixelRatio || 1;
  const canvas = document.createElement('canvas');
  canvas.className = 'pdf-page';
  canvas.width = Math.floor(viewport.width * ratio);
  canvas.height = Math.floor(viewport.height * ratio);
  canvas.style.width = `${Math.floor(viewport.width)}px`;
  canvas.style.height = `${Math.floor(viewport.height)}px`;
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', (element.dataset.pageLabel || 'Page {n}').replace('{n}', number));
  element.appendChild(canvas);
  const context = canvas.getContext('2d');
  await page.render({
    canvasContext: context, viewport,
    transform: ratio !== 1 ? [ ratio, 0, 0, ratio, 0, 0 ] : null
  }).promise;
}

export async function show(element) {
  if (element.dataset.shown) { return; }
  element.dataset.shown = '1';
  const loading = note(element, element.dataset.loading || 'Loading…');
  try {
    GlobalWorkerOptions.workerSrc = element.dataset.worker;
    const pdf = await getDocument({
      url: element.dataset.src, withCredentials: true, isEvalSupported: false,
      disableAutoFetch: true
    }).promise;
    loading.remove();
    const pages = Math.min(pdf.numPages, MAX_PAGES);
    for (let n = 1; n <= pages; n += 1) {
      await drawPage(pdf, n, element);
    }
    if (pdf.numPages > pages) {
      note(element, (element.dataset.more || '').replace('{n}', pages).replace('{total}', pdf.numPages));
    }
    element.classList.add('ready');
    element.dataset.pages = String(pdf.numPages);
  } catch (error) {
    loading.remove();
    note(element, `${element.dataset.failed || 'The PDF could not be shown.'}`, 'error');
    element.classList.add('failed');
  }
}

function showAll() {
  document.querySelectorAll('.pdf-view[data-src]').forEach((element) => { show(element); });
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', showAll);
} else {
  showAll();
}
