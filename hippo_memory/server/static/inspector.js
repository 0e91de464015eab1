// hippo-memory inspector: browse, search, follow chains, edit and forget, over the REST API.
//
// Every call goes to ../v1 with the API key the user typed (kept in sessionStorage), so the
// key's namespace prefix and scopes confine the page like any other client. Memories are
// untrusted input: they only ever reach the page through textContent and SVG text nodes.
"use strict";

(() => {
  const KEY_STORAGE = "hippo-memory.inspector.key";
  const API = new URL("v1/", document.baseURI);
  const PAGE_SIZE = 20;
  const CHAIN_HOPS = 5;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STOP_REASONS = {
    hops: "the asked-for number of hops was reached",
    faded: "the next association was below the minimum strength",
    no_link: "the last memory has no further association",
    no_start: "nothing was recalled from the query",
  };
  // Diagnostics columns with their meaning; any other field the server adds is shown too.
  const DIAGNOSTICS = [
    ["similarity", "Similarity", "Dense stage: best cosine similarity between the query and one of the memory's cues"],
    ["candidate_rank", "Dense rank", "Dense stage: rank of that cue among the nearest-neighbour candidates (1 = first)"],
    ["lexical_rank", "BM25 rank", "Lexical stage: rank in the BM25 channel (1 = first; — = not returned by BM25)"],
    ["attention", "Attention", "Settle stage: attention mass the Hopfield update gave the memory's cues (0..1)"],
    ["cues_matched", "Cues", "How many of the memory's cue variants were among the candidates"],
    ["best_cue", "Best cue", "The cue variant with the highest attention, and its kind"],
  ];
  // Optional fields a server may add: shown with a name and a meaning when present.
  const OPTIONAL = {
    fused: ["Fused", "Hand-set score: reciprocal-rank fusion of the settle and BM25 ranks, plus spreading and priors"],
  };
  const RANKS = new Set(["candidate_rank", "lexical_rank"]);
  const REALS = new Set(["similarity", "attention", "fused"]); // 1.0 stays "1.000", not "1"

  const $ = (id) => document.getElementById(id);
  const state = { key: "", namespace: null, offset: 0, memory: null, pending: 0 };

  class ApiError extends Error {
    constructor(name, message, status) {
      super(message);
      this.name = name;
      this.status = status;
    }
  }

  // ------------------------------------------------------------------ API
  async function api(method, path, body) {
    const headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (state.key) headers.authorization = `Bearer ${state.key}`;
    setPending(+1);
    try {
      let response;
      try {
        response = await fetch(new URL(path, API), {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          cache: "no-store",
          credentials: "omit",
        });
      } catch (err) {
        throw new ApiError("NetworkError", String((err && err.message) || err), 0);
      }
      const text = await response.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = null;
      }
      if (!response.ok) {
        const name = data && typeof data.error === "string" ? data.error : "HTTPError";
        const message = data && typeof data.message === "string" ? data.message : `HTTP ${response.status}`;
        throw new ApiError(name, message, response.status);
      }
      return data;
    } finally {
      setPending(-1);
    }
  }

  const memoryPath = (id) => `memories/${encodeURIComponent(id)}`;

  function setPending(delta) {
    state.pending += delta;
    document.body.dataset.pending = String(state.pending);
  }

  // ------------------------------------------------------------------ small DOM helpers
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name.startsWith("data-") || name === "title" || name === "type") node.setAttribute(name, value);
      else node[name] = value;
    }
    for (const child of children) node.append(child);
    return node;
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const nsText = (ns) => (ns && ns.length ? ns.join("/") : "");
  const fixed = (x, digits = 3) => (typeof x === "number" ? x.toFixed(digits) : "—");
  const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 19) : "—");
  const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

  function showError(err) {
    const name = err instanceof ApiError ? err.name : (err && err.name) || "Error";
    $("error-name").textContent = name;
    $("error-message").textContent = String((err && err.message) || err);
    $("error").hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
  }

  // Every user action runs through here: errors become the typed banner, never a throw.
  function action(fn) {
    return async (event) => {
      if (event && event.preventDefault) event.preventDefault();
      clearError();
      try {
        await fn(event);
      } catch (err) {
        showError(err);
      }
    };
  }

  // ------------------------------------------------------------------ namespaces
  async function loadNamespaces() {
    const data = await api("POST", "namespaces", {});
    const root = { path: [], children: new Map(), under: null };
    data.namespaces.forEach((ns, i) => {
      let node = root;
      for (const label of ns) {
        if (!node.children.has(label)) {
          node.children.set(label, { path: [...node.path, label], children: new Map(), under: null });
        }
        node = node.children.get(label);
      }
      node.under = Array.isArray(data.counts) ? data.counts[i] : null;
    });
    const counted = Array.isArray(data.counts);
    const total = (node) => {
      if (node.under !== null) return node.under;
      let sum = 0;
      for (const child of node.children.values()) sum += total(child);
      return sum;
    };
    const item = (node, label) => {
      const button = el(
        "button",
        { type: "button", className: "ns", "data-ns": nsText(node.path) },
        el("span", { className: "label", text: label }),
      );
      if (counted) button.append(el("span", { className: "count", text: String(total(node)) }));
      button.addEventListener("click", action(() => selectNamespace(node.path.length ? node.path : null)));
      const li = el("li", {}, button);
      if (node.children.size) {
        const ul = el("ul");
        for (const [childLabel, child] of [...node.children.entries()].sort()) ul.append(item(child, childLabel));
        li.append(ul);
      }
      return li;
    };
    $("ns-tree").replaceChildren(item(root, "All namespaces"));
    markSelected();
  }

  function markSelected() {
    const current = nsText(state.namespace);
    for (const button of $("ns-tree").querySelectorAll("button.ns")) {
      button.classList.toggle("selected", button.dataset.ns === current);
    }
    $("search-scope").textContent = state.namespace ? nsText(state.namespace) : "all namespaces";
    $("list-title").textContent = state.namespace ? `in ${nsText(state.namespace)}` : "in all namespaces";
  }

  async function selectNamespace(path) {
    state.namespace = path;
    state.offset = 0;
    markSelected();
    await loadMemories();
  }

  // ------------------------------------------------------------------ memories (paged)
  async function loadMemories() {
    const rows = await api("POST", "list", {
      namespace: state.namespace,
      limit: PAGE_SIZE + 1,
      offset: state.offset,
      newest_first: true,
    });
    const more = rows.length > PAGE_SIZE;
    const page = rows.slice(0, PAGE_SIZE);
    $("memories-body").replaceChildren(
      ...page.map((m) =>
        clickableRow(
          m.id,
          el("td", { className: "text memory", text: m.text }),
          el("td", { text: nsText(m.namespace) }),
          el("td", { className: "when", text: when(m.timestamp || m.created_at), title: m.timestamp || m.created_at }),
          el("td", { className: "id" }, el("code", { text: m.id })),
        ),
      ),
    );
    $("page-prev").disabled = state.offset === 0;
    $("page-next").disabled = !more;
    $("page-info").textContent = page.length
      ? `${state.offset + 1}–${state.offset + page.length}`
      : state.offset
        ? "no more memories"
        : "no memories";
  }

  function clickableRow(id, ...cells) {
    const row = el("tr", { className: "clickable", tabIndex: 0, "data-id": id }, ...cells);
    const open = action(() => openMemory(id));
    row.addEventListener("click", open);
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target === row) open(event); // not when a button in the row has focus
    });
    return row;
  }

  // ------------------------------------------------------------------ search
  async function search() {
    const query = $("search-query").value.trim();
    if (!query) return;
    const k = Math.max(1, Math.min(100, Number($("search-k").value) || 10));
    const result = await api("POST", "recall", { query, namespace: state.namespace, k });
    const known = new Set(DIAGNOSTICS.map(([key]) => key));
    const extra = [];
    for (const hit of result.hits) {
      for (const key of Object.keys(hit.diagnostics || {})) {
        if (!known.has(key) && !extra.includes(key)) extra.push(key);
      }
    }
    const head = [
      el("th", { text: "#", title: "Rank in the result (1 = best)" }),
      el("th", { text: "Score", title: "Final ranking score (after fusion and priors)" }),
      el("th", { text: "Text" }),
      el("th", { text: "Namespace" }),
      ...DIAGNOSTICS.map(([, label, help]) => el("th", { text: label, title: help })),
      ...extra.map((key) => {
        const [label, help] = OPTIONAL[key] || [key, "Further diagnostics reported by the server"];
        return el("th", { text: label, title: help });
      }),
      el("th", { text: "" }),
    ];
    $("hits-head").replaceChildren(...head);
    $("hits-body").replaceChildren(...result.hits.map((hit) => hitRow(hit, extra)));
    $("hits").hidden = false;
    const t = result.timings_ms || {};
    $("search-summary").textContent =
      `${result.hits.length} hit${result.hits.length === 1 ? "" : "s"} for “${result.query}” from ` +
      `${result.n_candidates} candidate cues · index ${result.backend}` +
      (typeof t.total === "number" ? ` · ${t.total.toFixed(1)} ms` : "");
  }

  function diagnosticCell(key, value) {
    if (key === "best_cue" && value && typeof value === "object") {
      return el("td", { className: "text cue" }, el("span", { className: "muted", text: `${value.kind}: ` }), value.text);
    }
    if (RANKS.has(key)) return el("td", { className: "num", text: typeof value === "number" ? String(value + 1) : "—" });
    if (typeof value === "number") {
      const whole = Number.isInteger(value) && !REALS.has(key);
      return el("td", { className: "num", text: whole ? String(value) : fixed(value) });
    }
    return el("td", { text: value === null || value === undefined ? "—" : JSON.stringify(value) });
  }

  function hitRow(hit, extra) {
    const d = hit.diagnostics || {};
    const m = hit.memory;
    const chain = el("button", { type: "button", className: "chain", text: "Chain", title: "Follow the chain" });
    chain.addEventListener(
      "click",
      action((event) => {
        event.stopPropagation();
        return followChain(m.text, m.namespace, m.id);
      }),
    );
    return clickableRow(
      m.id,
      el("td", { className: "num", text: String(hit.rank + 1) }),
      el("td", { className: "num score", text: fixed(hit.score) }),
      el("td", { className: "text memory", text: m.text }),
      el("td", { text: nsText(m.namespace) }),
      ...DIAGNOSTICS.map(([key]) => diagnosticCell(key, d[key])),
      ...extra.map((key) => diagnosticCell(key, d[key])),
      el("td", {}, chain),
    );
  }

  // ------------------------------------------------------------------ chains (inline SVG)
  async function followChain(query, namespace, fromId) {
    const chain = await api("POST", "recall_chain", { query, namespace, hops: CHAIN_HOPS });
    drawChain(chain);
    const reason = STOP_REASONS[chain.stop_reason] || chain.stop_reason;
    let summary = `${chain.hops.length} memor${chain.hops.length === 1 ? "y" : "ies"}; stopped: ${chain.stop_reason} (${reason}).`;
    if (fromId && chain.hops.length && chain.hops[0].memory.id !== fromId) {
      summary += " The chain starts at the best match of the hit's text, not at the hit itself.";
    }
    $("chain-title").textContent = `from “${clip(query, 60)}”`;
    $("chain-summary").textContent = summary;
    $("chain-pane").hidden = false;
    $("chain-pane").scrollIntoView({ block: "nearest" });
  }

  function drawChain(chain) {
    const width = 640;
    const nodeW = 600;
    const nodeH = 48;
    const gap = 58;
    const x = 20;
    const count = chain.hops.length;
    const height = 20 + (count + 1) * (nodeH + gap);
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-label": `Chain of ${count} memories, stopped: ${chain.stop_reason}`,
    });
    const defs = svg("defs");
    const marker = svg("marker", {
      id: "arrow",
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: "auto-start-reverse",
    });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
    defs.append(marker);
    root.append(defs);
    const top = (i) => 10 + i * (nodeH + gap);
    const edge = (i, label, className) => {
      const g = svg("g", { class: className });
      const y1 = top(i) + nodeH;
      const y2 = top(i + 1);
      g.append(svg("line", { x1: width / 2, y1, x2: width / 2, y2: y2 - 2, "marker-end": "url(#arrow)" }));
      g.append(svg("text", { x: width / 2 + 10, y: (y1 + y2) / 2 + 4 }, label));
      return g;
    };
    chain.hops.forEach((hop, i) => {
      if (i > 0) {
        const label = `strength ${fixed(hop.score)} · overlap ${fixed(hop.overlap, 2)}`;
        const g = edge(i - 1, label, "edge");
        g.setAttribute("data-to", hop.memory.id);
        root.append(g);
      }
      const g = svg("g", { class: "node", "data-id": hop.memory.id, "data-hop": hop.hop, tabindex: 0 });
      g.append(svg("title", {}, hop.memory.text));
      g.append(svg("rect", { x, y: top(i), width: nodeW, height: nodeH, rx: 6 }));
      // Long text is cut at the box's edge, not left to run over it.
      const clipPath = svg("clipPath", { id: `node-clip-${i}` });
      clipPath.append(svg("rect", { x: x + 6, y: top(i), width: nodeW - 12, height: nodeH }));
      defs.append(clipPath);
      const label = svg("g", { "clip-path": `url(#node-clip-${i})` });
      const head = i === 0 ? `hop 0 · recall score ${fixed(hop.score)}` : `hop ${hop.hop}`;
      label.append(svg("text", { class: "hop", x: x + 10, y: top(i) + 18 }, `${head} · ${nsText(hop.memory.namespace)}`));
      label.append(svg("text", { class: "memory-text", x: x + 10, y: top(i) + 37 }, clip(hop.memory.text, 100)));
      g.append(label);
      const open = action(() => openMemory(hop.memory.id));
      g.addEventListener("click", open);
      g.addEventListener("keydown", (event) => {
        if (event.key === "Enter") open(event);
      });
      root.append(g);
    });
    // The stop: a dashed edge to a dashed box naming why the chain ended.
    const last = count - 1;
    if (count) root.append(edge(last, STOP_REASONS[chain.stop_reason] || "", "edge to-stop"));
    const stop = svg("g", { class: "stop", "data-reason": chain.stop_reason });
    const y = top(count);
    stop.append(svg("rect", { x: width / 2 - 90, y, width: 180, height: 32, rx: 16 }));
    stop.append(svg("text", { x: width / 2, y: y + 21, "text-anchor": "middle" }, `stop: ${chain.stop_reason}`));
    root.append(stop);
    root.setAttribute("height", String(y + 42));
    root.setAttribute("viewBox", `0 0 ${width} ${y + 42}`);
    $("chain-graph").replaceChildren(root);
  }

  // ------------------------------------------------------------------ one memory: view, edit, forget
  const FIELDS = [
    "namespace",
    "timestamp",
    "created_at",
    "updated_at",
    "session",
    "cues",
    "salience",
    "novelty",
    "strength",
    "access_count",
    "expires_at",
    "superseded_by",
    "merged_from",
  ];

  function fieldText(name, value) {
    if (value === null || value === undefined) return "—";
    if (name === "namespace") return nsText(value);
    if (name === "cues") return value.map((cue) => `${cue.kind}: ${cue.text}`).join("\n") || "—";
    if (Array.isArray(value)) return value.join(", ") || "—";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : fixed(value);
    return String(value);
  }

  function showMemory(memory) {
    state.memory = memory;
    $("detail-id").textContent = memory.id;
    const rows = [];
    for (const name of FIELDS) rows.push(el("dt", { text: name }), el("dd", { text: fieldText(name, memory[name]) }));
    $("detail-fields").replaceChildren(...rows);
    $("edit-text").value = memory.text;
    $("edit-metadata").value = JSON.stringify(memory.metadata || {}, null, 2);
    $("detail-pane").hidden = false;
  }

  // The graph's nodes of one memory (or an element inside them).
  function chainNodes(id, inner) {
    const nodes = [...document.querySelectorAll("#chain-graph g.node")].filter((node) => node.dataset.id === id);
    return inner ? nodes.flatMap((node) => [...node.querySelectorAll(inner)]) : nodes;
  }

  async function openMemory(id) {
    showMemory(await api("GET", memoryPath(id)));
    $("detail-pane").scrollIntoView({ block: "nearest" });
  }

  async function saveMemory() {
    const memory = state.memory;
    if (!memory) return;
    let metadata;
    try {
      metadata = JSON.parse($("edit-metadata").value || "{}");
    } catch (err) {
      throw new ApiError("InvalidInputError", `metadata is not valid JSON: ${err.message}`, 0);
    }
    if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
      throw new ApiError("InvalidInputError", "metadata must be a JSON object", 0);
    }
    const patch = {};
    const text = $("edit-text").value;
    if (text !== memory.text) patch.text = text;
    if (JSON.stringify(metadata) !== JSON.stringify(memory.metadata || {})) patch.metadata = metadata;
    if (!Object.keys(patch).length) return;
    const updated = await api("PATCH", memoryPath(memory.id), patch);
    showMemory(updated);
    for (const cell of document.querySelectorAll("#hits-body tr td.memory, #chain-graph g.node title")) {
      const owner = cell.closest("[data-id]");
      if (owner && owner.dataset.id === updated.id) cell.textContent = updated.text;
    }
    for (const label of chainNodes(updated.id, "text.memory-text")) label.textContent = clip(updated.text, 100);
    await loadMemories();
  }

  async function forgetMemory() {
    const memory = state.memory;
    if (!memory) return;
    const dialog = $("confirm-forget");
    $("confirm-text").textContent = memory.text;
    dialog.returnValue = "";
    const answer = await new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
      dialog.showModal();
    });
    if (answer !== "forget") return;
    await api("DELETE", memoryPath(memory.id));
    state.memory = null;
    $("detail-pane").hidden = true;
    for (const row of document.querySelectorAll("#hits-body tr")) {
      if (row.dataset.id === memory.id) row.remove();
    }
    for (const node of chainNodes(memory.id)) node.classList.add("forgotten");
    await loadMemories();
    await Promise.all([loadNamespaces(), loadWho()]);
  }

  // ------------------------------------------------------------------ the key and start-up
  async function loadWho() {
    const stats = await api("GET", "stats");
    const parts = [];
    if (typeof stats.memories === "number") parts.push(`${stats.memories} memories`);
    if (Array.isArray(stats.prefix) && stats.prefix.length) parts.push(`key bound to ${nsText(stats.prefix)}`);
    $("who").textContent = parts.join(" · ");
  }

  async function refreshAll() {
    $("who").textContent = "";
    $("ns-tree").replaceChildren();
    $("memories-body").replaceChildren();
    $("hits-body").replaceChildren();
    $("hits").hidden = true;
    $("search-summary").textContent = "";
    $("chain-pane").hidden = true;
    $("detail-pane").hidden = true;
    state.namespace = null;
    state.offset = 0;
    state.memory = null;
    await loadNamespaces();
    await Promise.all([loadMemories(), loadWho()]);
  }

  function useKey(key) {
    state.key = key;
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  }

  function start() {
    $("key-form").addEventListener(
      "submit",
      action(() => {
        useKey($("api-key").value.trim());
        return refreshAll();
      }),
    );
    $("key-clear").addEventListener(
      "click",
      action(() => {
        $("api-key").value = "";
        useKey("");
        return refreshAll();
      }),
    );
    $("ns-refresh").addEventListener("click", action(loadNamespaces));
    $("search-form").addEventListener("submit", action(search));
    $("search-chain").addEventListener(
      "click",
      action(() => {
        const query = $("search-query").value.trim();
        return query ? followChain(query, state.namespace, null) : undefined;
      }),
    );
    $("page-prev").addEventListener(
      "click",
      action(() => {
        state.offset = Math.max(0, state.offset - PAGE_SIZE);
        return loadMemories();
      }),
    );
    $("page-next").addEventListener(
      "click",
      action(() => {
        state.offset += PAGE_SIZE;
        return loadMemories();
      }),
    );
    $("edit-form").addEventListener("submit", action(saveMemory));
    $("detail-forget").addEventListener("click", action(forgetMemory));
    $("detail-close").addEventListener(
      "click",
      action(() => {
        state.memory = null;
        $("detail-pane").hidden = true;
      }),
    );
    const saved = sessionStorage.getItem(KEY_STORAGE) || "";
    $("api-key").value = saved;
    useKey(saved);
    setPending(0);
    action(refreshAll)();
  }

  start();
})();
