// Settings pages. Root's option forms send only changed fields, one PUT /api/option/ each, in an order that
// lets a group switch a feature on together with what it needs; JSON is checked before anything is sent.
// The personal tab shows a new access token or invitation link once, binds email/WeChat/OAuth accounts and
// guards account deletion. Texts come from the page (#settings-texts), in the visitor's language.
"use strict";

(() => {
  const source = document.getElementById("settings-texts");
  const texts = source ? JSON.parse(source.textContent) : {};
  const t = (text, values = {}) =>
    (texts[text] || text).replace(/\{(\w+)\}/g, (match, name) => (name in values ? String(values[name]) : match));

  // -- option forms ------------------------------------------------------------------------------------------

  const canonicalJson = (text) => JSON.stringify(JSON.parse(text));

  function initialSelect(select) {
    const option = Array.from(select.options).find((item) => item.defaultSelected) || select.options[0];
    return option ? option.value : "";
  }

  function isChanged(field) {
    const kind = field.dataset.kind;
    if (kind === "bool") return field.checked !== field.defaultChecked;
    if (kind === "secret") return field.value !== "";
    if (field.tagName === "SELECT") return field.value !== initialSelect(field);
    if (kind === "json") {
      try { return canonicalJson(field.value) !== canonicalJson(field.defaultValue); } catch (error) { return true; }
    }
    return field.value !== field.defaultValue;
  }

  function valueOf(field) {
    const kind = field.dataset.kind;
    if (kind === "bool") return field.checked;
    if (kind === "json") return JSON.parse(field.value);
    if (kind === "list") return field.value.split(/[,\n]/).map((part) => part.trim()).filter(Boolean).join(",");
    return field.value; // numbers too: the server parses and range-checks them
  }

  function markSaved(field) {
    const kind = field.dataset.kind;
    if (kind === "bool") { field.defaultChecked = field.checked; return; }
    if (kind === "secret") {
      field.value = "";
      const status = field.closest(".row").querySelector("[data-secret-status]");
      if (status) { status.textContent = t("Set"); status.classList.add("ok"); }
      return;
    }
    if (field.tagName === "SELECT") {
      for (const option of field.options) option.defaultSelected = option.value === field.value;
      return;
    }
    field.defaultValue = field.value;
  }

  function showError(form, field, message) {
    const box = form.querySelector(".form-error");
    box.textContent = message;
    box.hidden = false;
    if (field) {
      field.setAttribute("aria-invalid", "true");
      field.focus();
    }
    Tollway.toast(message, "error");
  }

  function clearError(form) {
    const box = form.querySelector(".form-error");
    box.hidden = true;
    box.textContent = "";
    for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
  }

  // Show what the server stored (it trims and normalises some values) and make it the new starting point.
  async function refresh(form) {
    let stored;
    try { stored = await Tollway.api("GET", "/api/option/"); } catch (error) { return; }
    const values = new Map(stored.map((item) => [item.key, item.value]));
    for (const field of form.querySelectorAll("[data-option]")) {
      const value = values.get(field.dataset.option);
      if (value === undefined || field.dataset.kind === "secret") continue;
      if (field.dataset.kind === "bool") {
        field.checked = field.defaultChecked = value === "true";
      } else if (field.tagName === "SELECT") {
        field.value = value;
        markSaved(field);
      } else {
        field.value = field.defaultValue = field.dataset.kind === "json" ? JSON.stringify(JSON.parse(value), null, 2) : value;
      }
    }
  }

  async function saveOptions(form) {
    clearError(form);
    const changed = Array.from(form.querySelectorAll("[data-option]")).filter(isChanged);
    if (!changed.length) { Tollway.toast(t("Nothing to save: no field was changed.")); return; }
    for (const field of changed) {
      if (field.dataset.kind !== "json") continue;
      try { JSON.parse(field.value); } catch (error) {
        showError(form, field, t("{label}: not valid JSON ({error})", { label: field.dataset.label, error: error.message })
          + "\n" + t("Nothing in this group was saved."));
        return;
      }
    }
    // Switches turned off first (so what they needed may then be emptied), then values, then switches turned on
    // (so a feature is switched on only once what it needs is stored). The first refusal stops the group.
    const isBool = (field) => field.dataset.kind === "bool";
    const ordered = [
      ...changed.filter((field) => isBool(field) && !field.checked),
      ...changed.filter((field) => !isBool(field)),
      ...changed.filter((field) => isBool(field) && field.checked),
    ];
    const button = form.querySelector("[type=submit]");
    button.disabled = true;
    const saved = [];
    try {
      for (const field of ordered) {
        try {
          await Tollway.api("PUT", "/api/option/", { key: field.dataset.option, value: valueOf(field) });
        } catch (error) {
          const rest = saved.length
            ? t("Saved before the refusal: {labels}. The rest of this group was not saved.",
              { labels: saved.map((item) => item.dataset.label).join(", ") })
            : t("Nothing in this group was saved.");
          showError(form, field, t("{label}: {message}", { label: field.dataset.label, message: error.message }) + "\n" + rest);
          return;
        }
        markSaved(field);
        saved.push(field);
      }
      Tollway.toast(Tollway.t("Saved"));
      await refresh(form);
    } finally {
      button.disabled = false;
    }
  }

  for (const form of document.querySelectorAll("form[data-options]")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      saveOptions(form);
    });
  }

  document.addEventListener("click", async (event) => {
    const format = event.target.closest("[data-format-json]");
    if (format) {
      const area = document.getElementById(format.dataset.formatJson);
      try {
        area.value = JSON.stringify(JSON.parse(area.value), null, 2);
        area.removeAttribute("aria-invalid");
      } catch (error) {
        area.setAttribute("aria-invalid", "true");
        Tollway.toast(t("{label}: not valid JSON ({error})", { label: area.dataset.label, error: error.message }), "error");
      }
      return;
    }
    const preview = event.target.closest("[data-preview]");
    if (preview) {
      const box = document.getElementById(preview.dataset.preview + "-preview");
      if (!box.hidden) {
        box.hidden = true;
        preview.textContent = t("Preview");
        preview.setAttribute("aria-expanded", "false");
        return;
      }
      try {
        const field = document.getElementById(preview.dataset.preview);
        // The server's Markdown, in which raw HTML is escaped: safe to insert.
        box.innerHTML = await Tollway.api("POST", "/setting/preview", { key: field.dataset.option, text: field.value });
        box.hidden = false;
        preview.textContent = t("Hide preview");
        preview.setAttribute("aria-expanded", "true");
      } catch (error) { Tollway.toast(error.message, "error"); }
    }
  });

  const groups = document.querySelector(".option-groups[data-currency]");
  if (groups) {
    const perUnit = parseFloat(groups.dataset.quotaPerUnit) || 500000;
    for (const hint of document.querySelectorAll("[data-dollars-for]")) {
      const input = document.getElementById(hint.dataset.dollarsFor);
      input.addEventListener("input", () => {
        const quota = parseFloat(input.value);
        hint.textContent = Number.isFinite(quota)
          ? "≈ $" + (quota / perUnit).toLocaleString("en-US", { maximumFractionDigits: 4 }) : "";
      });
    }
  }

  const deleteLogs = document.getElementById("delete-logs");
  if (deleteLogs) deleteLogs.addEventListener("submit", async (event) => {
    event.preventDefault();
    const date = deleteLogs.elements.date.value;
    const [year, month, day] = date.split("-").map(Number);
    const cutoff = Math.floor(new Date(year, month - 1, day).getTime() / 1000); // local midnight
    if (!Tollway.confirmed(t("Delete every log entry created before {date}? This cannot be undone.", { date }))) return;
    const button = deleteLogs.querySelector("[type=submit]");
    button.disabled = true;
    try {
      const count = await Tollway.api("DELETE", "/api/log/?target_timestamp=" + cutoff);
      Tollway.toast(t("Deleted {count} log entries.", { count }));
    } catch (error) {
      Tollway.toast(error.message, "error");
    } finally {
      button.disabled = false;
    }
  });

  // -- personal tab ------------------------------------------------------------------------------------------

  function showSecret(container, text) {
    const box = document.createElement("div");
    box.className = "secret";
    const code = document.createElement("code");
    code.textContent = text;
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "secondary small";
    copy.dataset.copy = text;
    copy.textContent = t("Copy");
    box.append(code, copy);
    container.replaceChildren(box);
  }

  const tokenButton = document.getElementById("new-access-token");
  if (tokenButton) tokenButton.addEventListener("tollway:done", (event) => {
    showSecret(document.getElementById("access-token-output"), String(event.detail));
    const status = document.getElementById("access-token-status");
    status.textContent = status.dataset.made;
    status.classList.add("ok");
  });

  const inviteButton = document.getElementById("get-invitation");
  if (inviteButton) inviteButton.addEventListener("tollway:done", (event) => {
    const output = document.getElementById("invitation-output");
    showSecret(output, output.dataset.site + "/register?aff=" + encodeURIComponent(String(event.detail)));
    inviteButton.remove();
  });

  const profile = document.getElementById("profile-form");
  if (profile) profile.addEventListener("submit", (event) => {
    if (profile.elements.password.value !== profile.elements.password2.value) {
      event.preventDefault();
      event.stopPropagation(); // console.js would send the form otherwise
      profile.elements.password2.setAttribute("aria-invalid", "true");
      Tollway.toast(t("The two passwords differ."), "error");
    }
  });

  const removal = document.getElementById("delete-account");
  if (removal) removal.addEventListener("submit", (event) => {
    if (removal.elements.confirm.value.trim() !== removal.dataset.username) {
      event.preventDefault();
      event.stopPropagation();
      removal.elements.confirm.setAttribute("aria-invalid", "true");
      Tollway.toast(t("Type your username exactly to confirm."), "error");
    }
  });

  const turnstile = (form) => {
    const field = form.querySelector("[name=cf-turnstile-response]");
    return field ? "&turnstile=" + encodeURIComponent(field.value) : "";
  };

  const emailForm = document.getElementById("email-bind");
  if (emailForm) {
    const email = emailForm.elements.email;
    document.getElementById("send-email-code").addEventListener("click", async (event) => {
      if (!email.reportValidity()) return;
      event.target.disabled = true;
      try {
        await Tollway.api("GET", "/api/verification?email=" + encodeURIComponent(email.value) + turnstile(emailForm));
        Tollway.toast(t("A code is on its way to {email}.", { email: email.value }));
        emailForm.elements.code.focus();
      } catch (error) {
        Tollway.toast(error.message, "error");
      } finally {
        event.target.disabled = false;
      }
    });
    emailForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const query = new URLSearchParams({ email: email.value, code: emailForm.elements.code.value.trim() });
      try {
        await Tollway.api("GET", "/api/oauth/email/bind?" + query);
        window.location.reload();
      } catch (error) { Tollway.toast(error.message, "error"); }
    });
  }

  const wechatForm = document.getElementById("wechat-bind");
  if (wechatForm) wechatForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await Tollway.api("GET", "/api/oauth/wechat/bind?code=" + encodeURIComponent(wechatForm.elements.code.value.trim()));
      window.location.reload();
    } catch (error) { Tollway.toast(error.message, "error"); }
  });

  // GitHub, OIDC, Lark: a state for this browser, then the provider; it sends the browser back to
  // /oauth/<provider>, which binds the account to the signed-in user and returns here.
  for (const button of document.querySelectorAll("[data-oauth]")) {
    button.addEventListener("click", async () => {
      try {
        const state = await Tollway.api("GET", "/api/oauth/state");
        const url = new URL(button.dataset.authorize);
        url.searchParams.set("state", state);
        window.location.href = url.toString();
      } catch (error) { Tollway.toast(error.message, "error"); }
    });
  }
})();
