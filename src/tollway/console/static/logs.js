// Logs page: time filters in the browser's time zone (sent as unix seconds) and the expandable detail rows.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("log-filters");
  if (form) {
    const pad = (n) => String(n).padStart(2, "0");
    const local = (date) => `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
    for (const input of form.querySelectorAll("[data-time-for]")) {
      const hidden = form.elements[input.dataset.timeFor];
      const seconds = parseInt(hidden.value, 10);
      if (seconds > 0) input.value = local(new Date(seconds * 1000));
    }
    form.addEventListener("submit", () => {
      for (const input of form.querySelectorAll("[data-time-for]")) {
        const hidden = form.elements[input.dataset.timeFor];
        // "Until" takes in the whole chosen minute.
        const extra = input.dataset.timeFor === "end_timestamp" ? 59 : 0;
        hidden.value = input.value ? String(Math.floor(new Date(input.value).getTime() / 1000) + extra) : "";
      }
      // Leave empty filters out of the address.
      for (const field of form.elements) {
        if (field.name && field.value === "") field.disabled = true;
      }
    });
    // Coming back through the history must not find the emptied fields still switched off.
    window.addEventListener("pageshow", () => { for (const field of form.elements) field.disabled = false; });
  }
  for (const button of document.querySelectorAll("[data-details]")) {
    button.addEventListener("click", () => {
      const row = document.getElementById(button.getAttribute("aria-controls"));
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      row.hidden = !open;
    });
  }
});
