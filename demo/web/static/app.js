// The demo page: centrifuge-js (JSON or protobuf build) against Centrifugo, the hub behind it.
"use strict";

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);

// The protobuf build carries payloads as bytes: JSON is encoded and decoded here.
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const pack = (value) => (config.protocol === "protobuf" ? encoder.encode(JSON.stringify(value)) : value);
const unpack = (data) => (data instanceof Uint8Array ? JSON.parse(decoder.decode(data)) : data);

let tokensFetched = 0;
const options = { name: "hub-demo" };
if (config.auth === "jwt") {
  // JWT sign-in: Centrifugo checks the token itself; getToken runs again before it expires.
  options.getToken = async () => {
    const response = await fetch(config.tokenUrl, { method: "POST", credentials: "same-origin" });
    if (response.status === 401) throw new Centrifuge.UnauthorizedError("signed out");
    if (!response.ok) throw new Error(`token route answered ${response.status}`);
    tokensFetched += 1;
    $("refreshes").textContent = String(Math.max(0, tokensFetched - 1));
    return (await response.json()).token;
  };
} else {
  // Cookie sign-in: the browser sends the session cookie with the WebSocket, Centrifugo
  // forwards it to the hub's on_connect. Nothing else is needed here.
  $("refreshes-pill").hidden = true;
}
const centrifuge = new Centrifuge(config.url, options);

function show(id, text) {
  const element = $(id);
  element.textContent = text;
  element.hidden = !text;
}

const describe = (error) => `${error.message || "error"} (${error.code ?? "?"})`;

centrifuge.on("connecting", (ctx) => setState("connecting", ctx.reason));
centrifuge.on("connected", () => setState("connected"));
centrifuge.on("disconnected", (ctx) => setState("disconnected", ctx.reason));

function setState(state, reason) {
  const pill = $("state");
  pill.textContent = reason && state !== "connected" ? `${state}: ${reason}` : state;
  pill.dataset.state = state;
}

// -- the personal channel: Centrifugo subscribes every connection of a user server-side ----

centrifuge.on("publication", (ctx) => {
  if (!ctx.channel.startsWith("personal:")) return;
  const event = unpack(ctx.data);
  if (event.type === "export") exportProgress(event);
  if (event.type === "mention") notify(`${event.by} mentioned you in #${event.room}: ${event.text}`);
});

function notify(text) {
  const item = document.createElement("li");
  item.textContent = text;
  $("notifications").prepend(item);
}

// -- rooms ---------------------------------------------------------------------------------

let room = null;
let subscription = null;
const presence = new Map(); // client id -> user

async function loadRooms() {
  const { data } = await centrifuge.rpc("chat.rooms", pack({}));
  const list = $("rooms");
  list.replaceChildren();
  for (const { name, locked } of unpack(data)) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.className = "room";
    button.dataset.room = name;
    button.textContent = `# ${name}`;
    if (locked) {
      const note = document.createElement("span");
      note.className = "muted small";
      note.textContent = " locked";
      button.append(note);
    }
    button.addEventListener("click", () => join(name));
    item.append(button);
    list.append(item);
  }
}

const positions = () => JSON.parse(sessionStorage.getItem("positions") || "{}");

function savePosition(name, offset, epoch) {
  const all = positions();
  all[name] = { offset, epoch: epoch ?? all[name]?.epoch };
  sessionStorage.setItem("positions", JSON.stringify(all));
}

function join(name) {
  if (subscription) {
    subscription.removeAllListeners();
    subscription.unsubscribe();
    centrifuge.removeSubscription(subscription);
  }
  room = name;
  presence.clear();
  renderPresence();
  $("messages").replaceChildren();
  $("room-title").textContent = `# ${name}`;
  show("room-error", "");
  show("recovery", "");
  setSending(false);
  for (const button of document.querySelectorAll("button.room")) {
    button.classList.toggle("active", button.dataset.room === name);
  }
  // After a reload, subscribe from where this tab left off: Centrifugo sends what was missed.
  const since = positions()[name];
  const channel = `chat:${name}`;
  const sub = centrifuge.newSubscription(channel, since ? { since } : {});
  subscription = sub;
  let epoch = since?.epoch;
  // Recovered publications are delivered right after 'subscribed', before anything else.
  let recovering = false;
  let missed = 0;

  sub.on("subscribed", async (ctx) => {
    sessionStorage.setItem("room", name);
    epoch = ctx.streamPosition?.epoch;
    if (ctx.wasRecovering && ctx.recovered) {
      recovering = true;
      missed = 0;
      setTimeout(() => {
        recovering = false;
        show("recovery", `recovered: true · ${missed} missed message${missed === 1 ? "" : "s"} since you left`);
      }, 0);
    }
    if (ctx.wasRecovering && !ctx.recovered) {
      // A stale position (Centrifugo restarted with its memory engine, or history expired).
      show("recovery", "recovered: false · the room's stream changed; showing its history");
    }
    savePosition(name, ctx.streamPosition?.offset ?? 0, epoch);
    setSending(true);
    try {
      const history = await sub.history({ limit: 50 });
      for (const pub of history.publications) addMessage(unpack(pub.data), pub.offset, false);
      const { clients } = await sub.presence();
      for (const [client, info] of Object.entries(clients)) presence.set(client, info.user);
      renderPresence();
    } catch (error) {
      show("room-error", `history/presence: ${describe(error)}`);
    }
  });
  sub.on("publication", (ctx) => {
    if (recovering) missed += 1;
    addMessage(unpack(ctx.data), ctx.offset, recovering);
    if (sub === subscription) savePosition(name, ctx.offset, epoch);
  });
  sub.on("join", (ctx) => {
    presence.set(ctx.info.client, ctx.info.user);
    renderPresence();
  });
  sub.on("leave", (ctx) => {
    presence.delete(ctx.info.client);
    renderPresence();
  });
  sub.on("unsubscribed", (ctx) => {
    if (ctx.code !== 0) show("room-error", `cannot join #${name}: ${ctx.reason} (${ctx.code})`);
  });
  sub.on("error", (ctx) => show("room-error", `#${name}: ${describe(ctx.error)}`));
  sub.subscribe();
}

function addMessage(message, offset, recovered) {
  const list = $("messages");
  if (list.querySelector(`[data-offset="${offset}"]`)) return; // history and live may overlap
  const item = document.createElement("li");
  item.dataset.offset = String(offset);
  if (recovered) item.classList.add("recovered");
  const by = document.createElement("b");
  by.textContent = message.by;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message.text;
  const at = document.createElement("time");
  at.textContent = new Date(message.at * 1000).toLocaleTimeString();
  item.append(by, text, at);
  // Keep the list in offset order: recovered and history messages may come after live ones.
  const later = [...list.children].find((li) => Number(li.dataset.offset) > offset);
  list.insertBefore(item, later || null);
  list.scrollTop = list.scrollHeight;
}

function renderPresence() {
  const users = [...new Set(presence.values())].sort();
  const list = $("presence");
  list.replaceChildren(
    ...users.map((user) => {
      const item = document.createElement("li");
      item.textContent = user === config.user ? `${user} (you)` : user;
      item.dataset.user = user;
      return item;
    }),
  );
}

// -- sending (RPC: the hub validates, rate-limits and publishes) ---------------------------

function setSending(enabled) {
  $("text").disabled = !enabled;
  $("send").querySelector("button").disabled = !enabled;
  $("export").disabled = !enabled;
}

$("send").addEventListener("submit", async (event) => {
  event.preventDefault();
  show("send-error", "");
  try {
    await centrifuge.rpc("chat.send", pack({ room, text: $("text").value }));
    $("text").value = "";
  } catch (error) {
    show("send-error", describe(error));
  }
});

// -- export: a job in the pool, progress on the personal channel ---------------------------

let exportJob = null;

$("export").addEventListener("click", async () => {
  exportJob = null;
  delete $("export-progress").dataset.seen;
  show("export-result", "");
  $("export-progress").value = 0;
  $("export-progress").hidden = false;
  try {
    const { data } = await centrifuge.rpc("chat.export", pack({ room }));
    exportJob = unpack(data).job;
  } catch (error) {
    show("export-result", `export failed: ${describe(error)}`);
  }
});

function exportProgress(event) {
  // The job's first events may come before the RPC's answer: follow the newest job.
  if (exportJob && event.job !== exportJob) return;
  exportJob = event.job;
  const bar = $("export-progress");
  bar.value = event.progress;
  bar.dataset.progress = String(event.progress);
  bar.dataset.seen = bar.dataset.seen ? `${bar.dataset.seen},${event.progress}` : String(event.progress);
  if (event.progress < 100) {
    show("export-result", `exporting #${event.room}: ${event.progress}%`);
    return;
  }
  const result = $("export-result");
  result.replaceChildren();
  const link = document.createElement("a");
  link.href = event.url;
  link.id = "export-link";
  link.textContent = `download #${event.room} (${event.messages} message${event.messages === 1 ? "" : "s"})`;
  result.append("100% · ", link);
  result.hidden = false;
  notify(`export of #${event.room} is ready`);
}

// -- start -----------------------------------------------------------------------------------

centrifuge.once("connected", async () => {
  try {
    await loadRooms();
  } catch (error) {
    show("room-error", `rooms: ${describe(error)}`);
  }
  join(sessionStorage.getItem("room") || "lobby");
});
centrifuge.connect();
