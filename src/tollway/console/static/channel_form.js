// The channel add/edit form: per-type hints and config fields, the model picker, and saving through the API.
// Every text shown here is rendered into the page by the server in the visitor's language.
"use strict";

(() => {
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
  const byId = (id) => document.getElementById(id);

  function formPage(data) {
    const form = byId("channel-form");
    const s = data.strings;
    const editing = form.dataset.editing === "true";
    const types = new Map(data.types.map((t) => [t.id, t]));
    const typeSelect = byId("type");
    const chips = byId("model-chips");
    const adder = byId("model-add");
    const errorBox = byId("form-error");
    let models = [...data.channel.models];
    let current = types.get(parseInt(typeSelect.value, 10));

    function renderModels() {
      chips.replaceChildren();
      for (const model of models) {
        const item = document.createElement("li");
        const name = document.createElement("span");
        name.textContent = model;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "chip-remove";
        remove.textContent = "×";
        remove.setAttribute("aria-label", fill(s.remove, { model }));
        remove.addEventListener("click", () => {
          const index = models.indexOf(model);
          models = models.filter((m) => m !== model);
          renderModels();
          const buttons = chips.querySelectorAll("button"); // keep the keyboard where it was
          (buttons[Math.min(index, buttons.length - 1)] || adder).focus();
        });
        item.append(name, remove);
        chips.appendChild(item);
      }
      byId("models-count").textContent = fill(s.count, { count: models.length });
    }

    function setModels(list) {
      models = [...new Set(list.map((m) => m.trim()).filter(Boolean))];
      renderModels();
    }

    function addTyped() {
      const typed = adder.value.split(/[,\n]/).map((m) => m.trim()).filter(Boolean);
      if (!typed.length) return;
      setModels([...models, ...typed]);
      adder.value = "";
      adder.focus();
    }

    byId("model-add-button").addEventListener("click", addTyped);
    adder.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); addTyped(); }
    });
    for (const button of form.querySelectorAll("[data-models]")) {
      button.addEventListener("click", () => {
        const which = button.dataset.models;
        setModels(which === "all" ? data.allModels : which === "defaults" ? current.models : []);
      });
    }

    function applyType(kind, initial) {
      const before = current;
      current = kind;
      const base = byId("base_url");
      base.placeholder = kind.base_url || "";
      base.required = kind.needs_base_url;
      byId("base_url-hint").textContent = kind.base_hint;
      // A Vertex AI key is the service-account JSON itself (the type's own help calls it unused).
      const keyHelp = kind.json_key ? [editing ? s.keyEdit : s.keyJson] : [kind.key_help, editing ? s.keyEdit : s.keyCreate];
      byId("key-hint").textContent = keyHelp.filter(Boolean).join(" · ");
      const wanted = new Map(kind.config.map((f) => [f.name, f]));
      for (const row of form.querySelectorAll("[data-config]")) {
        const spec = wanted.get(row.dataset.config);
        const input = row.querySelector("input, textarea");
        row.hidden = !spec;
        input.disabled = !spec;
        if (spec) {
          row.querySelector("label").textContent = spec.label;
          row.querySelector(".hint").textContent = spec.hint;
        }
      }
      // The type's default models replace the list while the list is empty or still another type's defaults.
      if (!initial) {
        const untouched = !models.length || (!editing && before && models.join(",") === before.models.join(","));
        if (untouched) setModels(kind.models);
      }
    }

    typeSelect.addEventListener("change", () => applyType(types.get(parseInt(typeSelect.value, 10)), false));
    applyType(current, true);
    if (!editing && !models.length) setModels(current.models);
    renderModels();

    function fail(message, field) {
      errorBox.textContent = message;
      errorBox.hidden = false;
      if (field) field.focus(); else errorBox.focus();
      Tollway.toast(message, "error");
    }

    function body() {
      const name = byId("name").value.trim();
      if (!name) return fail(s.nameRequired, byId("name"));
      const key = byId("key").value.trim();
      if (!editing && !key) return fail(s.keyRequired, byId("key"));
      const baseUrl = byId("base_url").value.trim();
      if (current.needs_base_url && !baseUrl) return fail(s.baseRequired, byId("base_url"));
      if (!models.length) return fail(s.noModels, adder);
      let mapping = byId("model_mapping").value.trim();
      if (mapping) {
        let parsed = null;
        try { parsed = JSON.parse(mapping); } catch (error) { /* reported below */ }
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
          return fail(fill(s.mappingInvalid, { example: '{"gpt-3.5-turbo": "gpt-35-turbo"}' }), byId("model_mapping"));
        }
        mapping = JSON.stringify(parsed);
      }
      const config = { ...data.storedConfig };
      for (const row of form.querySelectorAll("[data-config]")) {
        if (row.hidden) continue;
        const input = row.querySelector("input, textarea");
        const value = input.value.trim();
        const name = row.dataset.config;
        if (value) {
          if (row.dataset.kind === "json") {
            try { JSON.parse(value); } catch (error) { return fail(s.adcInvalid, input); }
          }
          config[name] = value;
        } else if (!(editing && row.dataset.kind !== "text" && name in data.storedConfig)) {
          delete config[name];
        }
      }
      const groups = Array.from(form.querySelectorAll("input[name=group]:checked")).map((box) => box.value);
      const result = {
        type: current.id, name, group: groups.join(",") || "default", base_url: baseUrl,
        models: models.join(","), model_mapping: mapping, system_prompt: byId("system_prompt").value,
        priority: parseInt(byId("priority").value || "0", 10), weight: parseInt(byId("weight").value || "0", 10),
        config: Object.keys(config).length ? config : "",
      };
      if (key) result.key = key;
      if (editing) result.id = data.channel.id;
      return result;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errorBox.hidden = true;
      const payload = body();
      if (!payload) return;
      const submit = form.querySelector("[type=submit]");
      submit.disabled = true;
      try {
        if (editing) {
          await Tollway.api("PUT", "/api/channel/", payload);
          window.location.href = "/channel?saved=1";
        } else {
          const created = await Tollway.api("POST", "/api/channel/", payload);
          window.location.href = `/channel?added=${created.length}`;
        }
      } catch (error) {
        fail(error.message);
      } finally {
        submit.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const node = byId("channel-form-data");
    if (node) formPage(JSON.parse(node.textContent));
  });
})();
