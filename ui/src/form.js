// The trigger form: fields generated from the pipeline's parameter JSON Schema (types,
// enums, defaults, required, nested objects), checked in the browser, then sent to
// POST /api/v1/pipelines/{name}/runs; the API's problem+json errors land by their field.
import { $, $$, esc, postJson, problemOf } from "./util.js";

function resolve(schema, root) {
  let s = schema || {};
  for (let depth = 0; s.$ref && depth < 10; depth++) {
    const path = s.$ref.replace(/^#\//, "").split("/");
    s = { ...path.reduce((o, k) => (o ? o[k] : undefined), root), ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== "$ref")) };
  }
  // Optional[X] from pydantic: anyOf [X, {type: null}] is X, not required.
  const options = s.anyOf || s.oneOf;
  if (options) {
    const real = options.filter((o) => o.type !== "null");
    if (real.length === 1) return { ...resolve(real[0], root), ...pick(s, ["default", "title", "description"]), nullable: true };
  }
  if (s.allOf && s.allOf.length === 1) return { ...resolve(s.allOf[0], root), ...pick(s, ["default", "title", "description"]) };
  return s;
}

function pick(o, keys) {
  return Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]));
}

function kindOf(s) {
  if (Array.isArray(s.enum)) return "enum";
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  if (type === "object" && s.properties) return "object";
  if (type === "array" && s.items && Array.isArray(s.items.enum)) return "multi";
  if (["string", "integer", "number", "boolean"].includes(type)) return type;
  return "json";
}

const fieldId = (path) => `f-${path.replace(/[^a-zA-Z0-9_-]/g, "_")}`;

export class SchemaForm {
  constructor(root, schema) {
    this.root = root;
    this.schema = schema || { type: "object", properties: {} };
    this.fields = []; // {path, kind, schema, required, el}
  }

  render() {
    const props = this.schema.properties || {};
    if (!Object.keys(props).length) return false;
    this.root.innerHTML = this.renderObject(this.schema, "", true);
    for (const f of this.fields) f.el = document.getElementById(fieldId(f.path));
    return true;
  }

  renderObject(schema, prefix, top) {
    const required = new Set(schema.required || []);
    const entries = Object.entries(schema.properties || {});
    entries.sort(([a], [b]) => Number(required.has(b)) - Number(required.has(a))); // required first
    return entries.map(([name, raw]) => {
      const s = resolve(raw, this.schema);
      const path = prefix ? `${prefix}.${name}` : name;
      const kind = kindOf(s);
      const isRequired = required.has(name) && !s.nullable;
      if (kind === "object") {
        return `<fieldset data-path="${esc(path)}"><legend>${esc(s.title || name)}${isRequired ? ' <span class="required" aria-hidden="true">*</span>' : ""}</legend>` +
          (s.description ? `<p class="hint">${esc(s.description)}</p>` : "") + this.renderObject(s, path, false) + "</fieldset>";
      }
      this.fields.push({ path, kind, schema: s, required: isRequired });
      return this.renderField(path, name, s, kind, isRequired);
    }).join("");
  }

  renderField(path, name, s, kind, required) {
    const id = fieldId(path);
    const err = `${id}-error`;
    const title = esc(s.title && s.title.toLowerCase() !== name.replace(/_/g, " ") ? `${s.title} (${name})` : name);
    const star = required ? ' <span class="required" title="required">*</span>' : "";
    const hint = s.description ? `<span class="hint">${esc(s.description)}</span>` : "";
    const common = `id="${id}" name="${esc(path)}" aria-describedby="${err}"${required ? " required" : ""}`;
    const dflt = s.default;
    let control;
    if (kind === "boolean") {
      return `<div class="field"><label class="check"><input type="checkbox" ${common}${dflt ? " checked" : ""}> ${title}${star}</label>${hint}<small class="field-error" id="${err}" hidden></small></div>`;
    } else if (kind === "enum") {
      const blank = required && dflt !== undefined ? "" : `<option value="">${required ? "Choose…" : "(default)"}</option>`;
      control = `<select ${common}>${blank}${s.enum.map((v, i) => `<option value="${i}"${v === dflt ? " selected" : ""}>${esc(v)}</option>`).join("")}</select>`;
    } else if (kind === "multi") {
      const chosen = new Set(Array.isArray(dflt) ? dflt : []);
      control = `<div id="${id}" role="group" aria-describedby="${err}" class="checks">` + s.items.enum.map((v, i) =>
        `<label class="check"><input type="checkbox" name="${esc(path)}" value="${i}"${chosen.has(v) ? " checked" : ""}> ${esc(v)}</label>`).join("") + "</div>";
    } else if (kind === "integer" || kind === "number") {
      const bounds = ["minimum", "maximum"].filter((k) => k in s).map((k) => ` ${k.slice(0, 3)}="${s[k]}"`).join("");
      control = `<input type="number" inputmode="${kind === "integer" ? "numeric" : "decimal"}" step="${kind === "integer" ? 1 : "any"}"${bounds} ${common} value="${dflt ?? ""}">`;
    } else if (kind === "string") {
      const type = s.format === "date" ? "date" : s.format === "date-time" ? "datetime-local" : "text";
      control = `<input type="${type}" ${common} value="${esc(dflt ?? "")}" autocomplete="off">`;
    } else {
      control = `<textarea ${common} spellcheck="false" placeholder="JSON">${dflt === undefined ? "" : esc(JSON.stringify(dflt, null, 1))}</textarea>`;
      return `<label class="field" for="${id}"><span>${title}${star} <small class="muted">(JSON)</small></span>${control}${hint}<small class="field-error" id="${err}" hidden></small></label>`;
    }
    return `<label class="field" for="${id}"><span>${title}${star}</span>${control}${hint}<small class="field-error" id="${err}" hidden></small></label>`;
  }

  // Values the user gave, as run arguments; empty optional fields are left out so the
  // pipeline's defaults apply. Returns [args, errors by path].
  collect() {
    const args = {};
    const errors = {};
    for (const f of this.fields) {
      const [value, error] = this.read(f);
      if (error) { errors[f.path] = error; continue; }
      // A value equal to its default is left out, so the run takes the pipeline's default.
      if (value === undefined || (!f.required && "default" in f.schema && JSON.stringify(value) === JSON.stringify(f.schema.default))) continue;
      const keys = f.path.split(".");
      let target = args;
      for (const k of keys.slice(0, -1)) target = target[k] ??= {};
      target[keys[keys.length - 1]] = value;
    }
    return [args, errors];
  }

  read(f) {
    const s = f.schema;
    const el = f.el;
    if (f.kind === "boolean") return [el.checked];
    if (f.kind === "multi") {
      const chosen = $$("input:checked", el).map((box) => s.items.enum[Number(box.value)]);
      return [chosen];
    }
    const text = el.value.trim();
    if (text === "") return f.required ? [undefined, "required"] : [undefined];
    if (f.kind === "enum") return [s.enum[Number(text)]];
    if (f.kind === "integer" || f.kind === "number") {
      const n = Number(text);
      if (!Number.isFinite(n) || (f.kind === "integer" && !Number.isInteger(n))) return [undefined, f.kind === "integer" ? "must be a whole number" : "must be a number"];
      if (s.minimum !== undefined && n < s.minimum) return [undefined, `must be at least ${s.minimum}`];
      if (s.maximum !== undefined && n > s.maximum) return [undefined, `must be at most ${s.maximum}`];
      if (s.exclusiveMinimum !== undefined && n <= s.exclusiveMinimum) return [undefined, `must be more than ${s.exclusiveMinimum}`];
      if (s.exclusiveMaximum !== undefined && n >= s.exclusiveMaximum) return [undefined, `must be less than ${s.exclusiveMaximum}`];
      return [n];
    }
    if (f.kind === "string") {
      if (s.minLength !== undefined && text.length < s.minLength) return [undefined, `must be at least ${s.minLength} characters`];
      if (s.maxLength !== undefined && text.length > s.maxLength) return [undefined, `must be at most ${s.maxLength} characters`];
      if (s.pattern && !new RegExp(s.pattern, "u").test(text)) return [undefined, `must match ${s.pattern}`];
      return [text];
    }
    try { return [JSON.parse(text)]; } catch { return [undefined, "must be valid JSON"]; }
  }

  clearErrors() {
    $$(".field-error", this.root).forEach((e) => { e.hidden = true; e.textContent = ""; });
    $$("[aria-invalid]", this.root).forEach((e) => e.removeAttribute("aria-invalid"));
  }

  // Shows `message` by the field at `path` (or its nearest enclosing field); false if none.
  showError(path, message) {
    let p = path;
    while (p) {
      const f = this.fields.find((x) => x.path === p);
      if (f) {
        const box = document.getElementById(`${fieldId(p)}-error`);
        box.textContent = box.hidden ? message : `${box.textContent}; ${message}`;
        box.hidden = false;
        f.el.setAttribute("aria-invalid", "true");
        return f.el;
      }
      p = p.replace(/(\.[^.[\]]*|\[\d+\])$/, "");
    }
    return null;
  }
}

export function initTriggerForm() {
  const form = $("#trigger-form");
  if (!form) return;
  const schema = JSON.parse($("#params-schema").textContent);
  const sf = new SchemaForm($("#trigger-fields"), schema);
  sf.render();
  const formError = $("#trigger-error");
  const submit = $('button[type="submit"]', form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    sf.clearErrors();
    formError.hidden = true;
    const [args, errors] = sf.collect();
    const paths = Object.keys(errors);
    if (paths.length) {
      const first = paths.map((p) => sf.showError(p, errors[p])).find(Boolean);
      if (first) first.focus();
      return;
    }
    const body = { args, tags: form.__tags.value.split(",").map((t) => t.trim()).filter(Boolean), priority: Number(form.__priority.value || 0), force: form.__force.checked };
    submit.disabled = true;
    try {
      const response = await postJson(`/api/v1/pipelines/${encodeURIComponent(form.dataset.pipeline)}/runs`, body);
      if (response.ok) {
        const run = await response.json();
        window.location.assign(`/runs/${run.id}`);
        return;
      }
      const problem = await problemOf(response);
      const unplaced = [];
      let first = null;
      for (const e of problem.errors) {
        const path = String(e.path || "").replace(/^(body\.)?args\.?/, "");
        const el = path ? sf.showError(path, e.message) : null;
        first ??= el;
        if (!el) unplaced.push(`${e.path}: ${e.message}`);
      }
      formError.innerHTML = esc(problem.detail) + (unplaced.length ? `<ul>${unplaced.map((u) => `<li>${esc(u)}</li>`).join("")}</ul>` : "");
      formError.hidden = false;
      (first || formError).focus?.();
    } catch (err) {
      formError.textContent = `Could not reach the server: ${err.message}`;
      formError.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
}
