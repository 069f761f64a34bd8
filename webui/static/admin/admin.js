// docroute administration pages: the diagram editor, the version diff and the form
// preview. Loaded only on those pages; reads its settings from data-* attributes
// (the Content-Security-Policy allows no inline script).
(function () {
  'use strict';

  function text(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  async function fetchText(url) {
    const response = await fetch(url, { credentials: 'same-origin' });
    if (!response.ok) {
      throw new Error('HTTP ' + response.status);
    }
    return response.text();
  }

  async function setupEditor(canvas) {
    const status = document.getElementById('save-status');
    const xml = canvas.dataset.xmlUrl ? await fetchText(canvas.dataset.xmlUrl) : undefined;
    function show(message, kind) {
      status.textContent = message;
      status.className = 'status ' + (kind || '');
    }
    const editor = window.DocrouteModeler.mount(canvas, document.getElementById('properties'), {
      xml: xml,
      saveUrl: canvas.dataset.saveUrl,
      csrfToken: canvas.dataset.csrf,
      filename: canvas.dataset.filename || undefined,
      newName: canvas.dataset.newName || undefined,
      problemsElement: document.getElementById('diagram-problems'),
      lang: document.documentElement.lang.indexOf('zh') === 0 ? 'zh' : 'en',
      onResult: function (result) {
        if (result.ok) {
          const list = result.deployed.map(function (d) { return d.key + ' v' + d.version; }).join(', ');
          const changed = result.deployed.some(function (d) { return d.status === 'deployed'; });
          show(text(changed ? canvas.dataset.msgDeployed : canvas.dataset.msgUnchanged, { list: list }), 'success');
          const back = document.createElement('a');
          back.href = canvas.dataset.processesUrl;
          back.textContent = ' ' + canvas.dataset.msgBack;
          status.appendChild(back);
        } else {
          show(text(canvas.dataset.msgProblems, { n: result.problems.length }), 'error');
        }
      }
    });
    window.docrouteEditor = editor;
    await editor.ready;
    canvas.dataset.ready = 'true';
    document.getElementById('save-diagram').addEventListener('click', function () {
      show(canvas.dataset.msgSaving, '');
      editor.save();
    });
    document.getElementById('download-diagram').addEventListener('click', async function () {
      const blob = new Blob([await editor.getXml()], { type: 'application/xml' });
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = canvas.dataset.filename || 'diagram.bpmn';
      link.click();
      URL.revokeObjectURL(link.href);
    });
  }

  async function setupDiff(row) {
    const [oldXml, newXml] = await Promise.all([fetchText(row.dataset.oldUrl), fetchText(row.dataset.newUrl)]);
    window.docrouteDiff = await window.DocrouteViewer.mountDiff(
      document.getElementById('diff-left'), document.getElementById('diff-right'),
      { oldXml: oldXml, newXml: newXml });
    row.dataset.ready = 'true';
  }

  function setupFormPreview(form) {
    const textarea = document.getElementById('schema');
    const preview = document.getElementById('preview');
    const problems = document.getElementById('preview-problems');
    const keyInput = form.querySelector('[name=key]');
    let timer = null;
    let sequence = 0;
    async function refresh() {
      const mine = ++sequence;
      const response = await fetch(form.dataset.previewUrl, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': form.dataset.csrf },
        body: JSON.stringify({ schema: textarea.value, key: keyInput ? keyInput.value : '' })
      });
      const body = await response.json().catch(function () { return null; });
      if (mine !== sequence || !body) {
        return;
      }
      problems.replaceChildren();
      (body.problems || []).forEach(function (p) {
        const li = document.createElement('li');
        li.textContent = (p.element ? p.element + ': ' : '') + (p.line ? 'line ' + p.line + ': ' : '') + p.message;
        problems.appendChild(li);
      });
      problems.hidden = !(body.problems || []).length;
      if (body.html) {
        preview.innerHTML = body.html; // rendered by our own template, values escaped there
      }
      preview.dataset.ready = 'true';
    }
    textarea.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    });
    refresh();
  }

  document.addEventListener('DOMContentLoaded', function () {
    const canvas = document.getElementById('modeler');
    if (canvas) {
      setupEditor(canvas);
    }
    const diff = document.getElementById('diff');
    if (diff) {
      setupDiff(diff);
    }
    const form = document.getElementById('form-editor');
    if (form) {
      setupFormPreview(form);
    }
  });
})();
