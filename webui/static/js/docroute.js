// docroute's small page behaviours. No inline scripts anywhere (strict CSP).
(function () {
  'use strict';

  // A form marked data-once sends at most once: a double click must not submit twice.
  document.addEventListener('submit', function (event) {
    var form = event.target;
    var button = event.submitter;
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
      return;
    }
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
