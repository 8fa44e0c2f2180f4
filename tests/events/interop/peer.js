// peer.js - the official CloudEvents JavaScript SDK on the other side of
// khappy's CloudEvents interoperability test (tests/events/interop/ce_interop.c).
// Test-only: the product never needs Node.
//
//   node peer.js send URL   sends the events below to URL with the SDK, in
//                           binary, structured and batched mode; prints one
//                           line per request ("<mode> <status>") and exits 0
//                           when every request was answered 2xx.
//   node peer.js serve      listens on 127.0.0.1 (a free port, printed as
//                           "PORT <n>"), turns every POST into events with
//                           the SDK's HTTP.toEvent and answers 200 with what
//                           the SDK parsed, as JSON (see describe()); 400 with
//                           {"error"} when the SDK refuses the message.
//                           Ends on SIGTERM or when stdin closes.
"use strict";

const http = require("http");
const { CloudEvent, HTTP } = require("cloudevents");

// The events the SDK sends. ce_interop.c checks each one by id, literally.
function eventsToSend() {
  const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0x10, 0x0a]);
  return {
    binary: [
      new CloudEvent({
        id: "js-binary-json",
        source: "/interop/js",
        type: "io.khappy.interop.json",
        subject: "picture 42",
        time: "2024-05-01T12:00:00.123Z",
        datacontenttype: "application/json",
        dataschema: "https://khappy.example/schemas/faces",
        data: { faces: [{ x: 1, y: 2.5 }], name: "J\u00f6rg" },
        pictureid: "42",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01",
        count: 7,
        flag: true,
      }),
      new CloudEvent({
        id: "js-binary-bytes",
        source: "/interop/js",
        type: "io.khappy.interop.bytes",
        time: "2024-05-01T12:00:01.000Z",
        datacontenttype: "application/octet-stream",
        data: bytes,
      }),
    ],
    structured: [
      new CloudEvent({
        id: "js-structured-text",
        source: "/interop/js",
        type: "io.khappy.interop.text",
        subject: "Euro \u20ac \u{1f600}",
        time: "2024-05-01T12:00:02.000Z",
        datacontenttype: "text/plain",
        data: 'Hello, \u{1f30e}! "quoted" 100%',
        unicode: "\u00fcn\u00efc\u00f8d\u00e9",
      }),
      new CloudEvent({
        id: "js-structured-bytes",
        source: "/interop/js",
        type: "io.khappy.interop.bytes",
        time: "2024-05-01T12:00:03.000Z",
        datacontenttype: "image/png",
        data: bytes,
      }),
    ],
    batch: [
      new CloudEvent({
        id: "js-batch-1",
        source: "/interop/js",
        type: "io.khappy.interop.emotion",
        time: "2024-05-01T12:00:04.000Z",
        data: { emotion: "happiness", score: 0.875 },
      }),
      new CloudEvent({
        id: "js-batch-2",
        source: "/interop/js",
        type: "io.khappy.interop.text",
        time: "2024-05-01T12:00:05.000Z",
        datacontenttype: "text/plain",
        data: "second",
        pictureid: "43",
      }),
    ],
  };
}

async function post(url, message) {
  const response = await fetch(url, {
    method: "POST",
    headers: message.headers,
    body: message.body,
  });
  const text = await response.text();
  return { status: response.status, text };
}

async function send(url) {
  const events = eventsToSend();
  const requests = [];
  for (const event of events.binary)
    requests.push(["binary", HTTP.binary(event)]);
  for (const event of events.structured)
    requests.push(["structured", HTTP.structured(event)]);
  // The SDK's HTTP binding has no batch serializer: a batch is the JSON
  // array of the SDK's own event serialization.
  requests.push([
    "batch",
    {
      headers: { "content-type": "application/cloudevents-batch+json; charset=utf-8" },
      body: JSON.stringify(events.batch),
    },
  ]);
  let failed = 0;
  for (const [mode, message] of requests) {
    const { status, text } = await post(url, message);
    console.log(`${mode} ${status}${status >= 300 ? " " + text : ""}`);
    if (status < 200 || status >= 300) failed++;
  }
  process.exitCode = failed ? 1 : 0;
}

// What the SDK understood of one event, in plain JSON for the C side.
function describe(event) {
  const known = new Set([
    "id", "source", "type", "specversion", "datacontenttype", "dataschema",
    "subject", "time", "data", "data_base64", "datacontentencoding", "schemaurl",
  ]);
  const out = {
    id: event.id,
    source: event.source,
    type: event.type,
    specversion: event.specversion,
    datacontenttype: event.datacontenttype,
    dataschema: event.dataschema,
    subject: event.subject,
    time: event.time,
    extensions: {},
  };
  for (const [key, value] of Object.entries(event)) {
    if (!known.has(key) && value !== undefined) out.extensions[key] = String(value);
  }
  if (event.data_base64 !== undefined) {
    out.data_kind = "base64";
    out.data = event.data_base64;
  } else if (event.data === undefined || event.data === null) {
    out.data_kind = "none";
  } else if (ArrayBuffer.isView(event.data)) {
    out.data_kind = "base64";
    out.data = Buffer.from(event.data).toString("base64");
  } else if (typeof event.data === "string") {
    out.data_kind = "text";
    out.data = event.data;
  } else {
    out.data_kind = "json";
    out.data = JSON.stringify(event.data);
  }
  return out;
}

function isTextual(contentType) {
  return /json|^text\//i.test(contentType || "");
}

function serve() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const body = isTextual(req.headers["content-type"]) ? raw.toString("utf8") : raw;
      const ceHeaders = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (name.startsWith("ce-")) ceHeaders[name] = value;
      }
      let answer;
      let status = 200;
      try {
        const parsed = HTTP.toEvent({ headers: req.headers, body });
        const events = Array.isArray(parsed) ? parsed : [parsed];
        answer = { events: events.map(describe), ce_headers: ceHeaders };
      } catch (err) {
        status = 400;
        answer = { error: String(err && err.message ? err.message : err) };
      }
      const text = JSON.stringify(answer);
      res.writeHead(status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
      });
      res.end(text);
    });
  });
  server.listen(0, "127.0.0.1", () => {
    console.log(`PORT ${server.address().port}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.stdin.on("end", stop);
  process.stdin.resume();
}

const [command, url] = process.argv.slice(2);
if (command === "send" && url) {
  send(url).catch((err) => {
    console.error(`send failed: ${err && err.stack ? err.stack : err}`);
    process.exitCode = 2;
  });
} else if (command === "serve") {
  serve();
} else {
  console.error("usage: node peer.js send URL | node peer.js serve");
  process.exitCode = 2;
}
