// Decode speed of `devops-model serve` (loopback only) with and without constrained decoding and logprobs:
// one streamed chat at a time, the modes interleaved round by round; per request, decode tokens/s =
// (completion tokens - 1) / (time from the first to the last content chunk), so prefill is left out.
// Prints the median per mode as JSON. Given the server's PID, also its CPU time (user + system, all
// threads) per completion token: on a machine shared with other work, wall-clock rates are noise, while
// CPU time (with OMP_WAIT_POLICY=PASSIVE: no spinning) still shows what each mode adds. Usage:
//   node scripts/bench-structured.mjs http://127.0.0.1:PORT [ROUNDS=3] [MAX_TOKENS=64] [TEMPERATURE=0] [PID]
import fs from "node:fs";
import http from "node:http";
const [base, roundsArg, mtArg, tArg, pidArg] = process.argv.slice(2);
// utime + stime of a process in clock ticks (USER_HZ = 100 on Linux).
const cpuTicks = () => {
  const f = fs.readFileSync(`/proc/${pidArg}/stat`, "utf8").split(") ")[1].split(" ");
  return +f[11] + +f[12];
};
const u = new URL(base);
if (!["127.0.0.1", "localhost", "[::1]"].includes(u.hostname)) throw new Error("loopback targets only");
const rounds = +(roundsArg || 3), maxTokens = +(mtArg || 64), temperature = +(tArg || 0);
const schema = { type: "object", properties: {
  service: { type: "string" }, replicas: { type: "integer" }, cpu: { type: "number" },
  env: { type: "array", items: { type: "object", properties: { name: { type: "string" }, value: { type: "string" } },
                                 required: ["name", "value"] } },
  strategy: { enum: ["RollingUpdate", "Recreate"] } }, required: ["service", "replicas", "env", "strategy"] };
const modes = {
  plain: {},
  json_object: { response_format: { type: "json_object" } },
  json_schema: { response_format: { type: "json_schema", json_schema: { name: "deploy", schema } } },
  logprobs20: { logprobs: true, top_logprobs: 20 },
  json_schema_logprobs20: { response_format: { type: "json_schema", json_schema: { name: "deploy", schema } },
                            logprobs: true, top_logprobs: 20 },
};
function one(extra, seed) {
  const body = JSON.stringify({ messages: [{ role: "user", content: "Describe the payments deployment as JSON." }],
    temperature, seed, max_tokens: maxTokens, ignore_eos: true, stream: true, stream_options: { include_usage: true },
    ...extra });
  return new Promise((resolve, reject) => {
    const req = http.request(base + "/v1/chat/completions", { method: "POST",
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } }, (res) => {
      let buf = "", first = 0, last = 0, tokens = 0, finish = null;
      res.setEncoding("utf8");
      res.on("data", (c) => {
        buf += c;
        let at;
        while ((at = buf.indexOf("\n\n")) >= 0) {
          const ev = buf.slice(0, at).replace(/^data: /, "");
          buf = buf.slice(at + 2);
          if (ev === "[DONE]") continue;
          const j = JSON.parse(ev);
          if (j.error) return reject(new Error(j.error.message));
          if (j.usage) tokens = j.usage.completion_tokens;
          const ch = j.choices && j.choices[0];
          if (ch && ch.finish_reason) finish = ch.finish_reason;
          if (ch && ch.delta && (ch.delta.content || ch.logprobs)) {
            const now = performance.now();
            if (!first) first = now;
            last = now;
          }
        }
      });
      res.on("end", () => res.statusCode === 200 ? resolve({ tokens, finish, s: (last - first) / 1000 })
                                                 : reject(new Error(`status ${res.statusCode}`)));
    });
    req.on("error", reject);
    req.end(body);
  });
}
const rates = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
const tokens = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
const cpu = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
for (let r = 0; r < rounds; ++r) {
  for (const [name, extra] of Object.entries(modes)) {
    const c0 = pidArg ? cpuTicks() : 0;
    const res = await one(extra, r);
    if (pidArg && res.tokens > 1) cpu[name].push((cpuTicks() - c0) * 10 / res.tokens);
    if (res.tokens > 1 && res.s > 0) rates[name].push((res.tokens - 1) / res.s);
    tokens[name].push(res.tokens);
  }
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[(s.length - 1) >> 1] : NaN; };
const out = {};
for (const name of Object.keys(modes))
  out[name] = { decode_tokens_per_s: +median(rates[name]).toFixed(2), completion_tokens: tokens[name],
                ...(pidArg ? { cpu_ms_per_token: +median(cpu[name]).toFixed(2) } : {}) };
const base_rate = out.plain.decode_tokens_per_s;
for (const name of Object.keys(modes))
  out[name].ms_per_token_over_plain = +(1000 / out[name].decode_tokens_per_s - 1000 / base_rate).toFixed(2);
console.log(JSON.stringify({ rounds, max_tokens: maxTokens, temperature, modes: out }, null, 1));
