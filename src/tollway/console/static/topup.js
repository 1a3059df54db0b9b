// Top-up page: show what a redeemed code credited and the new balance, in dollars or units as the page does.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("redeem-form");
  if (!form) return;
  const perUnit = parseFloat(form.dataset.perUnit) || 500000;
  const format = (units) => form.dataset.currency === "1"
    ? "$" + (units / perUnit).toLocaleString("en-US", { maximumFractionDigits: 4 })
    : Math.trunc(units).toLocaleString("en-US");
  form.addEventListener("tollway:done", (event) => {
    const credited = Number(event.detail) || 0;
    const result = document.getElementById("redeem-result");
    result.textContent = form.dataset.credited.replace("{amount}", format(credited));
    result.hidden = false;
    const balance = document.getElementById("topup-balance");
    const now = (Number(balance.dataset.quota) || 0) + credited;
    balance.dataset.quota = String(now);
    balance.textContent = format(now);
    form.reset();
  });
});
