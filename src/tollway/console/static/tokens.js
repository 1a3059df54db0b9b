// Token form: expiry quick buttons, the dollar hint of the quota, picking models, and the new key after creating.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("token-form");
  if (!form) return;
  const expiry = form.elements.expired_time;
  const pad = (n) => String(n).padStart(2, "0");
  // datetime-local wants local time as YYYY-MM-DDTHH:MM.
  const local = (date) => `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;

  const stored = parseInt(expiry.dataset.unix, 10);
  if (stored > 0) expiry.value = local(new Date(stored * 1000));

  for (const button of form.querySelectorAll("[data-expire]")) {
    button.addEventListener("click", () => {
      const kind = button.dataset.expire;
      if (kind === "never") { expiry.value = ""; return; }
      const date = new Date();
      if (kind === "month") date.setMonth(date.getMonth() + 1);
      if (kind === "day") date.setDate(date.getDate() + 1);
      if (kind === "hour") date.setHours(date.getHours() + 1);
      if (kind === "minute") date.setMinutes(date.getMinutes() + 1);
      expiry.value = local(date);
    });
  }

  const quota = form.elements.remain_quota;
  const hint = document.getElementById("quota-hint");
  const perUnit = parseFloat(form.dataset.perUnit) || 500000;
  if (form.dataset.currency === "1" && hint) {
    quota.addEventListener("input", () => {
      const units = parseInt(quota.value, 10) || 0;
      hint.textContent = "≈ $" + (units / perUnit).toLocaleString("en-US", { maximumFractionDigits: 4 });
    });
  }

  const models = form.elements.models;
  const pick = document.getElementById("model-pick");
  const chosen = () => models.value.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  const put = (list) => { models.value = [...new Set(list)].join(","); };
  for (const button of form.querySelectorAll("[data-model]")) {
    button.addEventListener("click", () => {
      const kind = button.dataset.model;
      if (kind === "add" && pick) put([...chosen(), pick.value]);
      if (kind === "all" && pick) put([...chosen(), ...Array.from(pick.options, (o) => o.value)]);
      if (kind === "clear") models.value = "";
    });
  }

  const dialog = document.getElementById("token-created");
  form.addEventListener("tollway:done", (event) => {
    if (form.dataset.api.startsWith("PUT") || !dialog) return;
    const key = "sk-" + event.detail.key;
    document.getElementById("new-key").textContent = key;
    document.getElementById("copy-new-key").dataset.copy = key;
    dialog.showModal();
  });
});
