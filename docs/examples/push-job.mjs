// Push a hub job from Node.js with no dependencies: Node's `net` module speaking RESP to Redis.
//
//   node push-job.mjs redis://127.0.0.1:6379 hub:jobs default reports.build '{"user": "42"}' [job-id]
//
// The job is an XADD of a version-1 envelope (docs/jobs.md) to the pipeline's stream.
import net from "node:net";
import { randomUUID } from "node:crypto";

const [url, prefix, pipeline, name, payload, id] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const envelope = {
  v: 1,
  id: id || randomUUID().replaceAll("-", ""),
  name,
  payload: JSON.parse(payload),
  headers: { producer: "node" },
  attempt: 0,
  enqueued_at: Date.now() / 1000,
};
const command = ["XADD", `${prefix}:{${pipeline}}:stream`, "*", "job", JSON.stringify(envelope)];
const resp = `*${command.length}\r\n` + command.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("");

const socket = net.createConnection({ host: hostname, port: Number(port) }, () => socket.write(resp));
socket.once("data", (reply) => {
  const text = reply.toString();
  if (text.startsWith("-")) {
    console.error(`redis refused: ${text.trim()}`);
    process.exitCode = 1;
  } else {
    console.log(envelope.id); // the reply is the stream entry id; the job id is ours
  }
  socket.end();
});
socket.on("error", (err) => {
  console.error(`cannot reach redis: ${err.message}`);
  process.exitCode = 1;
});
