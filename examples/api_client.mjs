// A registry-p2p client in JavaScript, through a node's HTTP API: no npm package, Node 20's
// global fetch, and Server-Sent Events parsed by hand.
//
//   REGISTRY_P2P_API=127.0.0.1:5080 REGISTRY_P2P_API_TOKEN="$(cat DATA_DIR/api.token)" \
//     node examples/api_client.mjs RESOURCE_ID SERVICE_ID VALUE
//
// It watches RESOURCE_ID, registers SERVICE_ID=VALUE (signed, hosted and renewed by the node),
// prints each event of the watch until its own registration comes back, then exits 0
// (1 on an error, or when nothing came within 10 s).

const [resourceId, serviceId, value] = process.argv.slice(2);
if (!resourceId || !serviceId || value === undefined) {
  console.error("usage: node api_client.mjs RESOURCE_ID SERVICE_ID VALUE (env: REGISTRY_P2P_API, REGISTRY_P2P_API_TOKEN)");
  process.exit(2);
}
let api = process.env.REGISTRY_P2P_API || "127.0.0.1:5080";
if (!api.startsWith("http")) api = `http://${api}`;
const token = (process.env.REGISTRY_P2P_API_TOKEN || "").trim();
const records = `${api}/v1/resources/${encodeURIComponent(resourceId)}/records`;

async function check(response) {
  const body = await response.json();
  if (!response.ok) throw new Error(`${response.status} ${body.error ? body.error.message : JSON.stringify(body)}`);
  return body;
}

// One SSE event per blank-line-separated block: "event: NAME" and "data: JSON" lines.
async function* events(response) {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // a keepalive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) yield { name, data: JSON.parse(data.join("\n")) };
    }
  }
}

async function main() {
  const watching = new AbortController();
  setTimeout(() => watching.abort(new Error("no registration seen within 10 s")), 10_000);
  const stream = await fetch(`${api}/v1/resources/${encodeURIComponent(resourceId)}/watch`, {
    headers: { Accept: "text/event-stream" },
    signal: watching.signal,
  });
  if (!stream.ok) await check(stream);
  for await (const event of events(stream)) {
    if (event.name === "watching") {
      console.log(`watching ${event.data.resource_id}`);
      const written = await check(
        await fetch(records, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
          body: JSON.stringify({ service_id: serviceId, value }),
        }),
      );
      console.log(`registered ${serviceId}: stored by ${written.acks} replica(s)`);
      continue;
    }
    const record = event.data.record;
    console.log(`${event.name} service=${event.data.service_id} value=${record ? record.value_text : "-"}`);
    if (event.name === "registered" && event.data.service_id === serviceId && record && record.value_text === value) {
      console.log(`saw ${serviceId} come back through the watch`);
      process.exit(0); // ends the watch's connection too
    }
  }
  throw new Error("the watch ended");
}

main().catch((error) => {
  console.error(`api_client: ${error.message || error}`);
  process.exit(1);
});
