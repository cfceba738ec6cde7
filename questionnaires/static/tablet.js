// vr-study tablet and experimenter pages. No frameworks, no network beyond this server.
(function () {
  "use strict";
  var body = document.body;
  var submitting = false;  // a form is on its way: the poller must not navigate away from it

  // ---- questionnaire form: live progress, block half-filled submits, no double submit
  var form = document.querySelector("form.questionnaire");
  if (form) {
    var items = Array.prototype.slice.call(form.querySelectorAll("fieldset.item"));
    var required = items.filter(function (f) { return f.dataset.required === "true"; });
    var counter = document.querySelector("header.progress .answered");
    var bar = document.querySelector("header.progress .bar");
    var fill = bar ? bar.querySelector(".fill") : null;
    var answered = function (f) {
      var ta = f.querySelector("textarea");
      if (ta) { return ta.value.trim().length > 0; }
      return !!f.querySelector("input[type=radio]:checked");
    };
    var update = function () {
      var n = required.filter(answered).length;
      if (counter) { counter.textContent = String(n); }
      if (bar) { bar.setAttribute("aria-valuenow", String(n)); }
      if (fill) { fill.style.width = (required.length ? 100 * n / required.length : 100) + "%"; }
      items.forEach(function (f) {
        if (answered(f)) {
          f.classList.remove("missing-answer");
          var m = f.querySelector(".missing"); if (m) { m.hidden = true; }
        }
      });
    };
    form.addEventListener("change", update);
    form.addEventListener("input", update);
    update();
    var sending = false;
    form.addEventListener("submit", function (ev) {
      var missing = required.filter(function (f) { return !answered(f); });
      var note = form.querySelector(".incomplete");
      if (missing.length) {
        ev.preventDefault();
        missing.forEach(function (f) {
          f.classList.add("missing-answer");
          var m = f.querySelector(".missing"); if (m) { m.hidden = false; }
        });
        if (note) {
          note.hidden = false;
          note.textContent = "Please answer all questions first (" + missing.length + " missing).";
        }
        missing[0].scrollIntoView({ behavior: "auto", block: "center" });
        return;
      }
      if (sending) { ev.preventDefault(); return; }   // a second tap while the first is on its way
      sending = true;
      submitting = true;
      var btn = form.querySelector("button.submit");
      if (btn) { btn.disabled = true; btn.textContent = "Saving\u2026"; }
    });
  }

  // ---- waiting page and form page: follow the session's next open prompt
  var pollUrl = body.dataset.poll;
  if (pollUrl) {
    var shown = body.dataset.prompt || "";
    var ms = parseInt(body.dataset.pollMs || "1000", 10);
    var tick = function () {
      if (submitting) { return; }
      var xhr = new XMLHttpRequest();
      xhr.open("GET", pollUrl);
      xhr.onload = function () {
        if (xhr.status === 403) { window.location.href = "/t/join"; return; }
        if (xhr.status !== 200) { return; }
        var st = JSON.parse(xhr.responseText);
        var next = st.prompt_id === null ? "" : String(st.prompt_id);
        var ended = st.ended === true || st.session_status === "finished" || st.session_status === "aborted";
        if (submitting) { return; }
        if (next !== shown || (ended && !shown)) { window.location.href = "/t/"; }
      };
      xhr.send();
    };
    window.setInterval(tick, ms);
  }

  // ---- experimenter: confirm dangerous commands (delegated: the live part is replaced)
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (f && f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) { ev.preventDefault(); }
  });

  // ---- experimenter session page: refresh the live part (rendered by the server)
  var live = document.getElementById("live");
  if (live && live.dataset.live) {
    var refresh = function () {
      var xhr = new XMLHttpRequest();
      xhr.open("GET", live.dataset.live);
      xhr.onload = function () {
        if (xhr.status === 200) { live.innerHTML = xhr.responseText; }
      };
      xhr.send();
    };
    window.setInterval(refresh, parseInt(body.dataset.pollMs || "2000", 10));
  }
})();
