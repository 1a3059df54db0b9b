// The channel list: tests (one channel, all, disabled) with results, balances, and inline priority and weight.
// Every text shown here is rendered into the page by the server in the visitor's language.
"use strict";

(() => {
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
  const byId = (id) => document.getElementById(id);

  // "Added 2 channels." and "Channel saved." belong to the visit that follows the form: take their mark off the
  // address, so that a reload (or a bookmark) does not announce them again.
  const marks = new URLSearchParams(window.location.search);
  if (marks.has("added") || marks.has("saved")) {
    marks.delete("added");
    marks.delete("saved");
    const rest = marks.toString();
    window.history.replaceState(null, "", window.location.pathname + (rest ? `?${rest}` : "") + window.location.hash);
  }

  function cookie(name) {
    const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  // The channel-test routes answer One API's {success, message, time, modelName} (and `data` for all models),
  // where success=false is a test result rather than a refused call, so they are read whole here.
  async function testCall(path) {
    let response;
    try {
      response = await fetch(path, { headers: { "Accept": "application/json", "X-CSRF-Token": cookie("tollway_csrf") },
                                     credentials: "same-origin" });
    } catch (error) {
      throw new Error(Tollway.t("Network error: is the server reachable?"));
    }
    let body = null;
    try { body = await response.json(); } catch (error) { /* judged below */ }
    if (!body || (body.success === false && body.modelName === undefined && !Array.isArray(body.data))) {
      throw new Error((body && body.message) || Tollway.t("Request failed") + ` (${response.status})`);
    }
    return body;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function listPage(s) {
    const dialog = byId("test-dialog");
    const select = byId("test-model");
    const results = byId("test-results");
    const summary = byId("test-summary");
    let channelId = 0;
    const shown = new Map(); // model → row

    function resultRow(result) {
      let row = shown.get(result.model);
      if (!row) {
        row = document.createElement("tr");
        shown.set(result.model, row);
        results.appendChild(row);
      }
      row.replaceChildren();
      row.appendChild(cell(result.model));
      const badgeCell = document.createElement("td");
      const badge = document.createElement("span");
      badge.className = "badge " + (result.success ? "ok" : "bad");
      badge.textContent = result.success ? s["Passed"] : s["Failed"];
      badgeCell.appendChild(badge);
      row.appendChild(badgeCell);
      row.appendChild(cell(result.success ? fill(s["Seconds"], { seconds: Number(result.time).toFixed(2) }) : "—", "num"));
      row.appendChild(cell(result.message || ""));
      const when = document.createElement("td");
      const time = document.createElement("time");
      time.dataset.unix = String(result.at || Math.floor(Date.now() / 1000));
      when.appendChild(time);
      row.appendChild(when);
      Tollway.localTimes(row);
    }

    function setResponseTime(id, seconds) {
      const target = document.querySelector(`[data-response-for="${id}"]`);
      if (!target) return;
      const badge = document.createElement("span");
      badge.className = "badge " + (seconds === null ? "bad" : seconds < 1 ? "ok" : seconds < 3 ? "" : seconds < 5 ? "warn" : "bad");
      badge.textContent = seconds === null ? s["Failed"] : fill(s["Seconds"], { seconds: seconds.toFixed(2) });
      target.replaceChildren(badge);
    }

    async function openTest(button) {
      channelId = parseInt(button.dataset.test, 10);
      byId("test-name").textContent = button.dataset.name;
      const models = button.dataset.models.split(",").filter(Boolean);
      select.replaceChildren();
      const everything = new Option(fill(s["All models"], { count: models.length }), "");
      select.appendChild(everything);
      for (const model of models) select.appendChild(new Option(model, model));
      select.value = models.includes("gpt-3.5-turbo") ? "gpt-3.5-turbo" : (models[0] || "");
      results.replaceChildren();
      shown.clear();
      summary.textContent = "";
      dialog.showModal();
      try {
        const stored = await Tollway.api("GET", `/api/channel/${channelId}/tests`);
        for (const item of stored || []) {
          resultRow({ model: item.model, success: item.success, time: item.took, message: item.response, at: item.test_at });
        }
        if (!stored || !stored.length) summary.textContent = s["Never tested"];
      } catch (error) { Tollway.toast(error.message, "error"); }
    }

    byId("test-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const run = byId("test-run");
      const model = select.value;
      run.disabled = true;
      select.disabled = true;
      summary.textContent = s["Testing"];
      try {
        if (model === "") {
          const body = await testCall(`/api/channel/test/${channelId}?all_models=true`);
          for (const item of body.data) resultRow(item);
          const passed = body.data.filter((item) => item.success).length;
          summary.textContent = fill(s["Tested"], { passed, count: body.data.length });
        } else {
          const body = await testCall(`/api/channel/test/${channelId}?model=${encodeURIComponent(model)}`);
          resultRow({ model: body.modelName || model, success: body.success, time: body.time, message: body.message });
          summary.textContent = fill(s["Tested"], { passed: body.success ? 1 : 0, count: 1 });
          setResponseTime(channelId, body.success ? Number(body.time) : null);
        }
      } catch (error) {
        summary.textContent = error.message;
        Tollway.toast(error.message, "error");
      } finally {
        const lost = !dialog.contains(document.activeElement); // a disabled button drops the keyboard focus
        run.disabled = false;
        select.disabled = false;
        if (lost) run.focus();
      }
    });

    // Runs over many channels, and balance updates, report in the operation panel.
    const panel = byId("operation");
    const progress = byId("operation-progress");
    const text = byId("operation-text");
    const details = byId("operation-details");
    const reload = byId("operation-reload");

    function openPanel(title) {
      byId("operation-title").textContent = title;
      panel.hidden = false;
      details.replaceChildren();
      reload.hidden = true;
    }

    function detail(line) {
      const item = document.createElement("li");
      item.textContent = line;
      details.appendChild(item);
    }

    async function poll() {
      let run;
      try {
        run = await Tollway.api("GET", "/api/channel/test/status");
      } catch (error) {
        text.textContent = error.message;
        return;
      }
      progress.max = Math.max(1, run.total);
      progress.value = run.done;
      text.textContent = fill(s[run.running ? "Run progress" : "Run finished"], run);
      if (run.running) { setTimeout(poll, 1000); return; }
      details.replaceChildren();
      if (run.disabled.length) detail(fill(s["Run disabled"], { ids: run.disabled.map((id) => "#" + id).join(", ") }));
      if (run.enabled.length) detail(fill(s["Run enabled"], { ids: run.enabled.map((id) => "#" + id).join(", ") }));
      reload.hidden = false;
    }

    for (const button of document.querySelectorAll("[data-run]")) {
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          const run = await Tollway.api("GET", `/api/channel/test?scope=${button.dataset.run}`);
          openPanel(s["Testing title"]);
          progress.max = Math.max(1, run.total);
          progress.value = 0;
          text.textContent = fill(s["Run progress"], run);
          poll();
        } catch (error) {
          Tollway.toast(error.message, "error");
        } finally {
          button.disabled = false;
        }
      });
    }
    if (panel && panel.dataset.running === "true") { text.textContent = s["Testing"]; poll(); }

    function showBalance(id, balance) {
      const target = document.querySelector(`[data-balance-for="${id}"]`);
      if (target) target.textContent = target.dataset.currency + Number(balance).toFixed(2);
      return target ? target.textContent : String(balance);
    }

    const all = document.querySelector("[data-balances-all]");
    if (all) all.addEventListener("click", async () => {
      all.disabled = true;
      openPanel(s["Balances title"]);
      progress.removeAttribute("value");
      text.textContent = s["Balances running"];
      try {
        const result = await Tollway.api("GET", "/api/channel/update_balance");
        for (const [id, balance] of Object.entries(result.balances)) showBalance(id, balance);
        progress.max = 1;
        progress.value = 1;
        text.textContent = fill(s["Balances done"], { updated: result.updated, failed: result.failed.length,
                                                      skipped: result.skipped });
        for (const failure of result.failed) detail(fill(s["Balance failed"], failure));
        if (result.disabled.length) {
          detail(fill(s["Run disabled"], { ids: result.disabled.map((id) => "#" + id).join(", ") }));
          reload.hidden = false;
        }
      } catch (error) {
        progress.value = 0;
        text.textContent = error.message;
        Tollway.toast(error.message, "error");
      } finally {
        all.disabled = false;
      }
    });

    // Priority and weight save themselves on Enter or when the field is left with a new value.
    async function saveInline(input) {
      const value = parseInt(input.value, 10);
      if (Number.isNaN(value) || String(value) === input.dataset.saved) return;
      input.dataset.saved = String(value);
      try {
        await Tollway.api("PUT", "/api/channel/", { id: parseInt(input.dataset.id, 10), [input.dataset.inline]: value });
        Tollway.toast(s["Saved"]);
      } catch (error) {
        delete input.dataset.saved;
        Tollway.toast(error.message, "error");
      }
    }
    for (const input of document.querySelectorAll("input[data-inline]")) {
      input.dataset.saved = input.value;
      input.addEventListener("change", () => saveInline(input));
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") { event.preventDefault(); saveInline(input); }
      });
    }

    document.addEventListener("click", async (event) => {
      const tester = event.target.closest("[data-test]");
      if (tester) { openTest(tester); return; }
      const button = event.target.closest("[data-balance]");
      if (!button) return;
      button.disabled = true;
      try {
        const data = await Tollway.api("GET", `/api/channel/update_balance/${button.dataset.balance}`);
        Tollway.toast(fill(s["Balance updated"], { amount: showBalance(button.dataset.balance, data.balance) }));
      } catch (error) {
        Tollway.toast(error.message, "error");
      } finally {
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const node = byId("channel-strings");
    if (node) listPage(JSON.parse(node.textContent));
  });
})();
