// Tollway console: small helpers that let server-rendered pages call the management API.
// Forms and buttons declare what they do with data-* attributes; page scripts may call Tollway.api().
"use strict";

const Tollway = (() => {
  const strings = (window.TOLLWAY && window.TOLLWAY.strings) || {};
  const t = (text) => strings[text] || text;
  const PENDING_TOAST = "tollway-toast";

  function cookie(name) {
    const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  // Every call carries the CSRF token the server set in a readable cookie; the session cookie itself is HttpOnly.
  async function api(method, path, body) {
    const headers = { "Accept": "application/json", "X-CSRF-Token": cookie("tollway_csrf") };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new Error(t("Network error: is the server reachable?"));
    }
    let data = null;
    try { data = await response.json(); } catch (error) { /* not JSON: judged by status below */ }
    if (data && typeof data.success === "boolean") {
      if (!data.success) throw new Error(data.message || t("Request failed"));
      return data.data;
    }
    if (!response.ok) throw new Error((data && data.error && data.error.message) || t("Request failed") + ` (${response.status})`);
    return data;
  }

  function toast(message, kind = "ok") {
    const box = document.getElementById("toasts");
    if (!box) { window.alert(message); return; }
    const item = document.createElement("div");
    item.className = `toast ${kind}`;
    item.textContent = message;
    box.appendChild(item);
    setTimeout(() => item.remove(), kind === "error" ? 8000 : 3500);
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (error) {
      // Clipboard API needs a secure context; fall back to a selected textarea.
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      const ok = document.execCommand("copy");
      area.remove();
      if (!ok) { toast(t("Copy failed: select the text and copy it yourself"), "error"); return false; }
    }
    toast(t("Copied"));
    return true;
  }

  function confirmed(message) {
    return window.confirm(message || t("Are you sure?"));
  }

  // A form field's value in the type its data-type names: int, float, bool, json, lines, list, unix, text.
  function fieldValue(field) {
    const kind = field.dataset.type || (field.type === "checkbox" ? "bool" : "text");
    if (kind === "bool") return field.checked;
    const raw = field.value;
    if (kind === "int") return raw.trim() === "" ? 0 : parseInt(raw, 10);
    if (kind === "float") return raw.trim() === "" ? 0 : parseFloat(raw);
    if (kind === "json") return raw.trim() === "" ? "" : JSON.parse(raw);
    if (kind === "list") return raw.split(/[,\n]/).map((s) => s.trim()).filter(Boolean).join(",");
    if (kind === "unix") return raw ? Math.floor(new Date(raw).getTime() / 1000) : -1;
    return raw;
  }

  function formBody(form) {
    const body = {};
    for (const field of form.elements) {
      if (!field.name || field.disabled || field.dataset.skip !== undefined) continue;
      if (field.type === "radio" && !field.checked) continue;
      try {
        body[field.name] = fieldValue(field);
      } catch (error) {
        throw new Error(`${field.labels && field.labels[0] ? field.labels[0].textContent.trim() : field.name}: ${error.message}`);
      }
    }
    for (const [name, value] of Object.entries(form.dataset)) {
      if (name.startsWith("extra")) body[name.slice(5, 6).toLowerCase() + name.slice(6)] = JSON.parse(value);
    }
    return body;
  }

  // After a successful call: data-then="reload" | a URL | "copy:<field of the answer>" | nothing.
  async function after(element, data) {
    const then = element.dataset.then || "";
    if (element.dataset.success !== undefined) {
      const text = element.dataset.success || t("Done");
      // A page about to be left keeps the message for the next one (a toast would vanish with this page).
      if (then === "reload" || then === "next" || then.startsWith("/")) sessionStorage.setItem(PENDING_TOAST, text);
      else toast(text);
    }
    if (then === "reload") { window.location.reload(); return; }
    if (then.startsWith("copy:")) { await copy(String(data && data[then.slice(5)] !== undefined ? data[then.slice(5)] : data)); return; }
    if (then.startsWith("/")) { window.location.href = then; return; }
    if (then === "next") {
      const next = new URLSearchParams(window.location.search).get("next");
      window.location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : "/dashboard";
    }
  }

  async function submitForm(event) {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    if (form.dataset.confirm !== undefined && !confirmed(form.dataset.confirm)) return;
    const [method, path] = form.dataset.api.split(" ");
    const button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    try {
      const body = method === "GET" || method === "DELETE" ? undefined : formBody(form);
      const data = await api(method, path, body);
      form.dispatchEvent(new CustomEvent("tollway:done", { detail: data }));
      await after(form, data);
    } catch (error) {
      toast(error.message, "error");
    } finally {
      if (button) button.disabled = false;
    }
  }

  async function click(event) {
    const copier = event.target.closest("[data-copy]");
    if (copier) { event.preventDefault(); await copy(copier.dataset.copy); return; }
    const toggle = event.target.closest(".menu-toggle");
    if (toggle) {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      document.getElementById(toggle.getAttribute("aria-controls")).classList.toggle("open", open);
      return;
    }
    const logout = event.target.closest("[data-action=logout]");
    if (logout) {
      try { await api("GET", "/api/user/logout"); } catch (error) { /* signed out either way */ }
      window.location.href = "/";
      return;
    }
    const button = event.target.closest("button[data-api], a[data-api]");
    if (!button) return;
    event.preventDefault();
    if (button.dataset.confirm !== undefined && !confirmed(button.dataset.confirm)) return;
    const [method, path] = button.dataset.api.split(" ");
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    button.disabled = true;
    try {
      const data = await api(method, path, body);
      button.dispatchEvent(new CustomEvent("tollway:done", { detail: data, bubbles: true }));
      await after(button, data);
    } catch (error) {
      toast(error.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  function localTimes(root) {
    for (const node of root.querySelectorAll("time[data-unix]")) {
      const seconds = parseInt(node.dataset.unix, 10);
      if (seconds > 0) {
        node.dateTime = new Date(seconds * 1000).toISOString();
        node.textContent = new Date(seconds * 1000).toLocaleString();
      }
    }
  }

  document.addEventListener("submit", submitForm);
  document.addEventListener("click", click);
  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-autosubmit]")) event.target.form.submit();
  });
  // Each cell of a stacked list learns its column's name, shown above it when a phone turns rows into cards.
  function stackLabels(root) {
    for (const table of root.querySelectorAll("table.stack")) {
      const names = [...table.querySelectorAll(":scope > thead th")].map((th) => th.textContent.trim());
      for (const row of table.querySelectorAll(":scope > tbody > tr")) {
        [...row.cells].forEach((cell, index) => {
          if (!cell.hasAttribute("colspan") && names[index]) cell.dataset.label = names[index];
        });
      }
    }
  }

  function pendingToast() {
    const text = sessionStorage.getItem(PENDING_TOAST);
    if (text) { sessionStorage.removeItem(PENDING_TOAST); toast(text); }
  }

  document.addEventListener("DOMContentLoaded", () => { localTimes(document); stackLabels(document); pendingToast(); });

  return { api, toast, copy, confirmed, formBody, t, localTimes };
})();
window.Tollway = Tollway;
