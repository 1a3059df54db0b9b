// Redemption-code and user forms: the dollar value of a quota as it is typed, and the codes a batch created.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input[data-quota-per-unit]")) {
    const hint = document.getElementById(input.getAttribute("aria-describedby"));
    const perUnit = parseFloat(input.dataset.quotaPerUnit);
    if (!hint || !(perUnit > 0)) continue;
    input.addEventListener("input", () => {
      const units = parseInt(input.value || "0", 10) || 0;
      const amount = (units / perUnit).toFixed(6).replace(/\.?0+$/, "");
      hint.textContent = hint.dataset.quotaHint.replace("{amount}", amount);
    });
  }

  // A field marked data-send-when-changed is left out of the request until it is edited.
  for (const input of document.querySelectorAll("[data-send-when-changed]")) {
    input.addEventListener("input", () => input.removeAttribute("data-skip"), { once: true });
  }

  const create = document.getElementById("create-codes");
  if (create) {
    const section = document.getElementById("created");
    const keys = document.getElementById("created-keys");
    create.addEventListener("tollway:done", (event) => {
      keys.value = (event.detail || []).join("\n");
      keys.rows = Math.min(20, Math.max(3, event.detail.length));
      section.hidden = false;
      document.getElementById("created-title").focus();
    });
    document.getElementById("copy-all").addEventListener("click", () => Tollway.copy(keys.value));
  }
});
