// OneStop console: a light touch of script. Every page works without it; with it, the clerk's
// form shows the API's field errors in place, the duplicate dialog offers its choice, and the
// keyboard does more (F2 calls the next visitor, Ctrl+Enter submits from a text box).
"use strict";

function $(selector, root) { return (root || document).querySelector(selector); }
function $all(selector, root) { return Array.from((root || document).querySelectorAll(selector)); }

function csrfOf(form) { const f = form.querySelector('input[name="csrf"]'); return f ? f.value : ""; }

// --- keyboard ---------------------------------------------------------------------------------
document.addEventListener("keydown", (event) => {
  if (event.key === "F2") {
    const button = $('[data-shortcut="F2"]');
    if (button && !button.disabled) { event.preventDefault(); button.click(); }
  }
  const target = event.target;
  // Enter submits the clerk's form from a list too, not only from a text field
  if (event.key === "Enter" && target instanceof HTMLSelectElement && target.form &&
      target.form.hasAttribute("data-live") && !event.altKey) {
    event.preventDefault();
    target.form.requestSubmit();
    return;
  }
  if (event.key === "Enter" && target instanceof HTMLTextAreaElement &&
      (event.ctrlKey || event.metaKey || target.hasAttribute("data-enter-submits"))) {
    event.preventDefault();
    if (target.form) target.form.requestSubmit();
  }
});

// --- small conveniences -----------------------------------------------------------------------
$all("select[data-autosubmit]").forEach((select) =>
  select.addEventListener("change", () => select.form.submit()));
$all("[data-print]").forEach((button) => button.addEventListener("click", () => window.print()));

const slider = $("[data-slider] input[type=range]");
if (slider) {
  const moments = (slider.dataset.moments || "").split("|");
  const output = $("[data-moment]");
  slider.addEventListener("input", () => { output.textContent = moments[slider.value] || ""; });
  slider.addEventListener("change", () => slider.form.submit());
}

// --- registering a visitor: the API's field errors in place, the duplicate dialog ----------
const register = $("form[data-live]");
if (register) {
  const dialog = $("#duplicates");
  const decision = (name) => register.querySelector(`input[name="duplicate_decision.${name}"]`);

  function showErrors(errors, problem) {
    $all("[data-error-for]", register).forEach((slot) => {
      const name = slot.dataset.errorFor;
      const message = errors[name] || (name === "_form" ? (Object.keys(errors).length ? "" : problem) : "");
      slot.textContent = message || "";
      if (name === "_form") slot.classList.toggle("hidden", !message);
      const field = slot.closest(".field");
      if (field) field.classList.toggle("invalid", Boolean(message));
      const input = document.getElementById("f-" + name);
      if (input) input.setAttribute("aria-invalid", message ? "true" : "false");
    });
    const reasonError = dialog && dialog.querySelector('[data-error-for="duplicate_decision.reason"]');
    if (reasonError) reasonError.textContent = errors["duplicate_decision.reason"] || "";
    const first = Object.keys(errors).map((n) => document.getElementById("f-" + n)).find(Boolean);
    if (first) first.focus();
  }

  function showDuplicates(candidates) {
    const body = dialog.querySelector("[data-candidates]");
    const row = dialog.querySelector("template[data-candidate-row]");
    body.replaceChildren();
    candidates.forEach((c) => {
      const copy = row.content.cloneNode(true);
      copy.querySelector("[data-short]").textContent = c.short;
      copy.querySelector("[data-registered]").textContent = c.registered_at;
      copy.querySelector("[data-category]").textContent = c.category;
      copy.querySelector("[data-status]").textContent = c.status;
      copy.querySelector("[data-reasons]").textContent = c.reasons.join("、");
      copy.querySelector("[data-link]").dataset.link = c.case_id;
      body.appendChild(copy);
    });
    if (!dialog.open) dialog.showModal();
    const firstLink = dialog.querySelector("[data-link]");
    if (firstLink) firstLink.focus();
  }

  async function send() {
    const button = register.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const response = await fetch(register.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(register)),
        headers: { "Accept": "application/json", "X-CSRF-Token": csrfOf(register) },
        credentials: "same-origin",
      });
      const answer = await response.json();
      if (answer.redirect) { window.location.assign(answer.redirect); return; }
      showErrors(answer.errors || {}, answer.problem || "");
      if (answer.duplicates && answer.duplicates.length) showDuplicates(answer.duplicates);
      else if (dialog.open && !(answer.errors || {})["duplicate_decision.reason"]) dialog.close();
    } catch (error) {
      showErrors({}, String(error));
    } finally {
      button.disabled = false;
    }
  }

  register.addEventListener("submit", (event) => {
    event.preventDefault();
    decision("action").value = "";
    decision("case_id").value = "";
    decision("reason").value = "";
    send();
  });

  dialog.addEventListener("click", (event) => {
    const link = event.target.closest("[data-link]");
    if (link && link.dataset.link) {
      decision("action").value = "link";
      decision("case_id").value = link.dataset.link;
      send();
    } else if (event.target.closest("[data-new]")) {
      decision("action").value = "new";
      decision("reason").value = dialog.querySelector("[data-new-reason]").value;
      send();
    } else if (event.target.closest("[data-close]")) {
      dialog.close();
    }
  });
  dialog.querySelector("[data-new-reason]").addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); dialog.querySelector("[data-new]").click(); }
  });
  if (dialog.hasAttribute("data-open")) dialog.showModal();
}
