// docroute's small page behaviours. No inline scripts anywhere (strict CSP).
(function () {
  'use strict';

  // A button with data-confirm asks in the page first (a <dialog>, not the browser's
  // confirm(), which looks like an alert from another site and cannot be translated).
  var confirmed = null;

  function askFirst(form, button) {
    var dialog = document.createElement('dialog');
    dialog.className = 'confirm-dialog';
    dialog.setAttribute('aria-labelledby', 'confirm-dialog-text');
    var text = document.createElement('p');
    text.id = 'confirm-dialog-text';
    text.textContent = button.dataset.confirm;
    var buttons = document.createElement('div');
    buttons.className = 'buttons';
    var yes = document.createElement('button');
    yes.type = 'button';
    yes.className = 'danger confirm-yes';
    yes.textContent = button.dataset.confirmYes || button.textContent.trim();
    var no = document.createElement('button');
    no.type = 'button';
    no.className = 'confirm-no';
    no.textContent = button.dataset.confirmNo || 'Cancel';
    buttons.appendChild(no);
    buttons.appendChild(yes);
    dialog.appendChild(text);
    dialog.appendChild(buttons);
    document.body.appendChild(dialog);
    dialog.addEventListener('close', function () { dialog.remove(); button.focus(); });
    no.addEventListener('click', function () { dialog.close(); });
    yes.addEventListener('click', function () {
      confirmed = button;
      dialog.close();
      form.requestSubmit(button);
    });
    dialog.showModal();
    no.focus();
  }

  // A form marked data-once sends at most once: a double click must not submit twice.
  document.addEventListener('submit', function (event) {
    var form = event.target;
    var button = event.submitter;
    if (button && button.dataset.confirm && confirmed !== button) {
      event.preventDefault();
      askFirst(form, button);
      return;
    }
    confirmed = null;
    if (!form.hasAttribute('data-once')) {
      return;
    }
    if (form.dataset.sent === '1') {
      event.preventDefault();
      return;
    }
    form.dataset.sent = '1';
    // Disable after the submitter's name/value has been taken into the submission.
    window.setTimeout(function () {
      form.querySelectorAll('button[type=submit]').forEach(function (b) {
        b.disabled = true;
      });
    }, 0);
  });

  // Back/forward cache: a restored page must be usable again.
  window.addEventListener('pageshow', function () {
    document.querySelectorAll('form[data-once]').forEach(function (form) {
      form.dataset.sent = '';
      form.querySelectorAll('button[type=submit]').forEach(function (b) { b.disabled = false; });
    });
  });

  document.addEventListener('click', function (event) {
    var target = event.target.closest('[data-print]');
    if (target) {
      window.print();
    }
  });

  // Jump to the first field with an error.
  document.addEventListener('DOMContentLoaded', function () {
    var bad = document.querySelector('.field.invalid input, .field.invalid select, .field.invalid textarea');
    if (bad) {
      bad.focus({ preventScroll: false });
    }
  });
})();
