// The node's dashboard: /v1/status every 2 s, and one EventSource per resource held (its watch).
"use strict";

const watching = new Map(); // resource id -> EventSource

function cell(text, mono) {
  const td = document.createElement("td");
  td.textContent = text;
  if (mono) td.className = "mono";
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.appendChild(c);
  return tr;
}

function expiresIn(ms) {
  const left = Math.max(0, Math.round((ms - Date.now()) / 1000));
  const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
  return h ? `in ${h}h${String(m).padStart(2, "0")}m` : `in ${m}m${String(s).padStart(2, "0")}s`;
}

function value(record) {
  return record.value_text !== null ? record.value_text : `base64:${record.value_base64}`;
}

function renderResources(resources) {
  const box = document.getElementById("resources");
  box.replaceChildren();
  if (!resources.length) box.textContent = "none";
  for (const held of resources) {
    const title = document.createElement("h3");
    title.textContent = `${held.label} `;
    const id = document.createElement("code");
    id.textContent = held.resource_id;
    title.appendChild(id);
    const replicas = document.createElement("div");
    replicas.className = "muted";
    replicas.textContent = `replica set (${held.replicas_from}): ${held.replicas.join(", ") || "-"}`;
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th>service</th><th>host</th><th>value</th><th>expires</th><th>addrs</th></tr></thead>";
    const body = document.createElement("tbody");
    body.className = "records";
    for (const r of held.records) {
      body.appendChild(row(cell(r.service_id || '""'), cell(r.host, true), cell(value(r)), cell(expiresIn(r.expires_at_ms)), cell(r.addrs.join(" ") || "-", true)));
    }
    table.appendChild(body);
    box.append(title, replicas, table);
    watch(held.resource_id, held.label);
  }
}

function watch(rid, label) {
  if (watching.has(rid)) return;
  const source = new EventSource(`/v1/resources/${encodeURIComponent(rid)}/watch`);
  for (const kind of ["registered", "unregistered", "expired"]) {
    source.addEventListener(kind, (message) => {
      const event = JSON.parse(message.data);
      const item = document.createElement("li");
      item.className = kind;
      const shown = event.record ? ` value=${value(event.record)}` : "";
      item.textContent = `${new Date().toLocaleTimeString()} ${kind} ${label}/${event.service_id} host=${event.host}${shown}`;
      document.getElementById("feed").prepend(item);
    });
  }
  watching.set(rid, source);
}

async function refresh() {
  try {
    const response = await fetch("/v1/status");
    const status = await response.json();
    document.getElementById("peer-id").textContent = status.peer_id;
    const c = status.counts;
    document.getElementById("summary").textContent =
      `${status.addrs.join(" ")} · ${c.resources || 0} resource(s), ${c.records || 0} record(s), ${c.tombstones || 0} tombstone(s) stored`;
    document.getElementById("peer-count").textContent = status.peers.length;
    document.getElementById("peers").replaceChildren(...status.peers.map((p) => row(cell(p.peer_id, true), cell(p.addrs.join(" "), true))));
    renderResources(status.resources);
  } catch (error) {
    document.getElementById("summary").textContent = `the node does not answer: ${error}`;
  }
}

refresh();
setInterval(refresh, 2000);
