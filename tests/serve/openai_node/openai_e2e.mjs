// End-to-end test of `devops-model serve` with the official `openai` npm client (v4), as a user's program
// would call it. Run by scripts/openai-node-test.sh (which installs the client and starts the server):
//   node openai_e2e.mjs NPM_PREFIX BASE_URL API_KEY CHAT_MODEL EMBEDDING_MODEL
// Each case is one async function in CASES; it passes, throws (FAIL), or throws Skip (SKIP, with why).
// Features listed in BUILT (tools, response_format, logprobs) must be honoured: a reply that refuses or
// visibly ignores one fails. A feature not in BUILT would skip instead (the list is how a feature under
// construction joins the test).
// The models are random tiny fixtures: text is noise, so the checks are about shapes, consistency
// (streamed = not streamed, base64 = floats, greedy token = top-1) and, under a grammar, valid JSON.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [prefix, baseURL, apiKey, chatModel, embeddingModel] = process.argv.slice(2);
if (!embeddingModel) {
  console.error('usage: node openai_e2e.mjs NPM_PREFIX BASE_URL API_KEY CHAT_MODEL EMBEDDING_MODEL');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(prefix), 'package.json'));
const OpenAI = require('openai');
const clientVersion = JSON.parse(fs.readFileSync(path.join(prefix, 'node_modules/openai/package.json'), 'utf8')).version;

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120_000 });

class Skip extends Error {}

// Features the server must honour (a reply that ignores or refuses them fails instead of skipping);
// DM_E2E_REQUIRE=a,b adds more for one run.
const BUILT = new Set([...['tools', 'response_format', 'logprobs'], ...(process.env.DM_E2E_REQUIRE ?? '').split(',').filter(Boolean)]);

// The server answered but did not do `feature`: skip while it is not built, else fail.
function ignored(feature, what) {
  if (BUILT.has(feature)) assert.fail(`server ignores ${feature}: ${what}`);
  throw new Skip(`server ignores ${feature} (${what})`);
}

const SEEDS = Number(process.env.DM_E2E_SEEDS || 6);  // sampled runs of the grammar-constrained cases

// ---- helpers ---------------------------------------------------------------------------------------

const question = [{ role: 'user', content: 'How do I roll back a Kubernetes deployment?' }];

async function chat(extra = {}) {
  return client.chat.completions.create({ model: chatModel, messages: question, max_tokens: 12, temperature: 0, ...extra });
}

// Runs fn; a 400 naming `field` (param or message) means the server does not support it yet: Skip.
async function unlessRefused(field, fn) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof OpenAI.BadRequestError && (String(e.param ?? '').startsWith(field) || String(e.message).includes(field))) {
      if ([...BUILT].some((f) => f.startsWith(field))) throw e;  // built: a refusal is a failure
      throw new Skip(`server refuses '${field}' (400: ${e.message})`);
    }
    throw e;
  }
}

function norm(v) {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

function floatsOfBase64(s) {
  const buf = Buffer.from(s, 'base64');
  assert.equal(buf.length % 4, 0);
  return Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(i * 4));
}

// A validator for the JSON-schema subset the issue names: type, properties, required,
// additionalProperties false, items, enum, anyOf, $ref to #/$defs. Returns a list of problems.
function validate(value, schema, root = schema, where = '$') {
  if (schema.$ref) {
    const name = schema.$ref.replace('#/$defs/', '');
    return validate(value, root.$defs[name], root, where);
  }
  if (schema.anyOf) {
    return schema.anyOf.some((s) => validate(value, s, root, where).length === 0) ? [] : [`${where}: matches no anyOf branch`];
  }
  const out = [];
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) out.push(`${where}: not in enum`);
  const types = [].concat(schema.type ?? []);
  const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);
  if (types.length) {
    const t = typeOf(value);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [`${where}: ${t}, expected ${types}`];
  }
  if (typeOf(value) === 'object') {
    for (const r of schema.required ?? []) if (!(r in value)) out.push(`${where}: missing ${r}`);
    for (const [k, v] of Object.entries(value)) {
      if (schema.properties?.[k]) out.push(...validate(v, schema.properties[k], root, `${where}.${k}`));
      else if (schema.additionalProperties === false) out.push(`${where}: unexpected ${k}`);
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => out.push(...validate(v, schema.items, root, `${where}[${i}]`)));
  return out;
}

// 'complete' (one JSON value, whitespace around), 'prefix' (input ends inside a value that could still be
// completed: what a grammar-constrained reply cut off by max_tokens is) or 'invalid'.
function jsonState(text) {
  const END = Symbol('end');
  let i = 0;
  const peek = () => {
    if (i >= text.length) throw END;
    return text[i];
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) ++i;
  };
  const expect = (c) => {
    if (peek() !== c) throw new Error(`expected ${c} at ${i}`);
    ++i;
  };
  const literal = (word) => {
    for (const c of word) expect(c);
  };
  const string = () => {
    expect('"');
    for (;;) {
      const c = peek();
      ++i;
      if (c === '"') return;
      if (c < ' ') throw new Error(`control character in a string at ${i}`);
      if (c === '\\') {
        const e = peek();
        ++i;
        if (e === 'u') {
          for (let k = 0; k < 4; ++k) {
            if (!/[0-9a-fA-F]/.test(peek())) throw new Error(`bad \\u escape at ${i}`);
            ++i;
          }
        } else if (!'"\\/bfnrt'.includes(e)) {
          throw new Error(`bad escape at ${i}`);
        }
      }
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9][0-9]*)?(\.[0-9]*)?([eE][+-]?[0-9]*)?/.exec(text.slice(i));
    if (!m || m[0] === '' || m[0] === '-' && i + 1 < text.length) throw new Error(`bad number at ${i}`);
    i += m[0].length;
    if (i >= text.length) throw END;  // a number may go on
    if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(m[0])) throw new Error(`bad number ${m[0]}`);
  };
  const value = () => {
    ws();
    const c = peek();
    if (c === '{') {
      ++i;
      ws();
      if (peek() === '}') return void ++i;
      for (;;) {
        ws();
        string();
        ws();
        expect(':');
        value();
        ws();
        if (peek() === '}') return void ++i;
        expect(',');
      }
    }
    if (c === '[') {
      ++i;
      ws();
      if (peek() === ']') return void ++i;
      for (;;) {
        value();
        ws();
        if (peek() === ']') return void ++i;
        expect(',');
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    return number();
  };
  try {
    value();
    ws();
    return i === text.length ? 'complete' : 'invalid';
  } catch (e) {
    if (e !== END) return 'invalid';
    try {
      JSON.parse(text);  // a top-level number at the end is complete as it is
      return 'complete';
    } catch {
      return 'prefix';
    }
  }
}

function parsesAndValidates(text, schema, what) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    assert.fail(`${what} is not JSON (${e.message}): ${JSON.stringify(text)}`);
  }
  const problems = schema ? validate(value, schema) : [];
  assert.deepEqual(problems, [], `${what} does not match the schema: ${text}`);
  return value;
}

// ---- cases that the server supports now --------------------------------------------------------------

async function modelsList() {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(chatModel), `models: ${ids}`);
  assert.ok(ids.includes(embeddingModel), `models: ${ids}`);
  const one = (await client.models.list()).data[0];
  assert.equal(one.object, 'model');
}

async function chatNonStreamed() {
  const r = await chat();
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, chatModel);
  assert.match(r.id, /^chatcmpl-/);
  const c = r.choices[0];
  assert.equal(c.message.role, 'assistant');
  assert.equal(typeof c.message.content, 'string');
  assert.ok(['stop', 'length'].includes(c.finish_reason), c.finish_reason);
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  const again = await chat();
  assert.equal(again.choices[0].message.content, c.message.content, 'greedy is deterministic');
}

async function chatStreamed() {
  const whole = await chat();
  const stream = await chat({ stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish = null;
  let usage = null;
  let role = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      role ??= c.delta.role ?? null;
      text += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(text, whole.choices[0].message.content, 'streamed deltas = the whole reply');
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.deepEqual(usage, whole.usage);
}

async function completions() {
  const r = await client.completions.create({ model: chatModel, prompt: 'kubectl get', max_tokens: 6, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.ok(r.usage.completion_tokens > 0);
  const stream = await client.completions.create({
    model: chatModel, prompt: 'kubectl get', max_tokens: 6, temperature: 0, stream: true,
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, r.choices[0].text);
}

async function embeddingsFloatAndBase64() {
  const input = ['kubectl rollout undo deployment/web', 'helm rollback web 3', 'docker ps -a'];
  const f = await client.embeddings.create({ model: embeddingModel, input, encoding_format: 'float' });
  assert.equal(f.object, 'list');
  assert.equal(f.model, embeddingModel);
  assert.equal(f.data.length, 3);
  const dims = f.data[0].embedding.length;
  assert.ok(dims > 0);
  f.data.forEach((d, i) => {
    assert.equal(d.object, 'embedding');
    assert.equal(d.index, i);
    assert.equal(d.embedding.length, dims);
  });
  assert.ok(f.usage.prompt_tokens > 0);
  assert.equal(f.usage.total_tokens, f.usage.prompt_tokens);
  // Asked for base64: the client hands the string back; it decodes to the float result exactly.
  const b = await client.embeddings.create({ model: embeddingModel, input, encoding_format: 'base64' });
  b.data.forEach((d, i) => {
    assert.equal(typeof d.embedding, 'string');
    assert.deepEqual(floatsOfBase64(d.embedding), f.data[i].embedding.map((x) => Math.fround(x)));
  });
  // No encoding_format: the v4 client asks for base64 itself and decodes it to numbers.
  const dflt = await client.embeddings.create({ model: embeddingModel, input });
  dflt.data.forEach((d, i) => assert.deepEqual(Array.from(d.embedding), f.data[i].embedding.map((x) => Math.fround(x))));
  // dimensions equal to the model's is accepted; a single string works.
  const one = await client.embeddings.create({ model: embeddingModel, input: input[0], dimensions: dims, encoding_format: 'float' });
  assert.deepEqual(one.data[0].embedding, f.data[0].embedding);
}

async function embeddingsOfTokenIds() {
  // Token-id inputs (ids of the embedding model's vocabulary). Without --embedding-model the embedding
  // model is the chat model: its mean-pooled final hidden state, L2-normalised.
  const r = await client.embeddings.create({ model: embeddingModel, input: [[1, 2, 3, 4], [5, 6]], encoding_format: 'float' });
  assert.equal(r.data.length, 2);
  const special = embeddingModel === chatModel ? 0 : 2;  // BERT adds [CLS] and [SEP]
  assert.equal(r.usage.prompt_tokens, 6 + 2 * special);
  if (embeddingModel === chatModel) for (const d of r.data) assert.ok(Math.abs(norm(d.embedding) - 1) < 1e-5);
}

async function errorsAreTypedExceptions() {
  const expectError = async (cls, status, fn, param) => {
    try {
      await fn();
    } catch (e) {
      assert.ok(e instanceof cls, `expected ${cls.name}, got ${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, status);
      if (param !== undefined) assert.equal(e.param, param, e.message);
      return e;
    }
    assert.fail(`expected ${cls.name}`);
  };
  await expectError(OpenAI.BadRequestError, 400, () => chat({ temperature: 5 }), 'temperature');
  await expectError(OpenAI.BadRequestError, 400, () => chat({ n: 2 }), 'n');
  await expectError(OpenAI.BadRequestError, 400,
    () => client.embeddings.create({ model: embeddingModel, input: 'x', dimensions: 3 }), 'dimensions');
  await expectError(OpenAI.BadRequestError, 400,
    () => client.embeddings.create({ model: embeddingModel, input: '' }), 'input');
  const nf = await expectError(OpenAI.NotFoundError, 404, () => chat({ model: 'no-such-model' }), 'model');
  assert.equal(nf.code, 'model_not_found');
  await expectError(OpenAI.NotFoundError, 404, () => client.get('/no-such-route'));
  const wrongKey = new OpenAI({ baseURL, apiKey: 'wrong-key', maxRetries: 0 });
  await expectError(OpenAI.AuthenticationError, 401, () => wrongKey.models.list());
}

// ---- tools, response_format, logprobs -----------------------------------------------------------------

const kubectlTool = {
  type: 'function',
  function: {
    name: 'run_kubectl',
    description: 'Run a kubectl command',
    parameters: {
      type: 'object',
      properties: {
        verb: { type: 'string', enum: ['get', 'describe', 'logs', 'rollout'] },
        resource: { type: 'string' },
        namespace: { type: 'string' },
        tail: { type: 'integer' },
      },
      required: ['verb', 'resource'],
      additionalProperties: false,
    },
  },
};

async function forcedToolCall() {
  for (let seed = 1; seed <= SEEDS; ++seed) {
    const r = await unlessRefused('tool', () =>
      chat({
        tools: [kubectlTool],
        tool_choice: { type: 'function', function: { name: 'run_kubectl' } },
        temperature: 1,
        seed,
        max_tokens: 96,
      }),
    );
    const c = r.choices[0];
    if (!c.message.tool_calls?.length) ignored('tools', 'the reply has no tool_calls');
    const call = c.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.ok(call.id);
    assert.equal(call.function.name, 'run_kubectl');
    if (c.finish_reason === 'length') {  // cut off: the arguments so far must still be JSON's beginning
      assert.notEqual(jsonState(call.function.arguments), 'invalid', `seed ${seed}: ${call.function.arguments}`);
      continue;
    }
    assert.equal(c.finish_reason, 'tool_calls');
    parsesAndValidates(call.function.arguments, kubectlTool.function.parameters, `seed ${seed}: arguments`);
  }
}

async function toolCallStreamed() {
  const stream = await unlessRefused('tool', () =>
    chat({ tools: [kubectlTool], tool_choice: 'required', temperature: 1, seed: 7, max_tokens: 96, stream: true }),
  );
  let args = '';
  let name = '';
  let finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      for (const t of c.delta.tool_calls ?? []) {
        name += t.function?.name ?? '';
        args += t.function?.arguments ?? '';
      }
      finish = c.finish_reason ?? finish;
    }
  }
  if (!name) ignored('tools', 'no tool_calls deltas in the stream');
  assert.equal(name, 'run_kubectl');
  if (finish === 'length') return assert.notEqual(jsonState(args), 'invalid', args);
  assert.equal(finish, 'tool_calls');
  parsesAndValidates(args, kubectlTool.function.parameters, 'streamed arguments');
}

const incidentSchema = {
  type: 'object',
  properties: {
    severity: { type: 'string', enum: ['low', 'high', 'critical'] },
    services: { type: 'array', items: { type: 'string' } },
    rollback: { type: 'boolean' },
    owner: { anyOf: [{ type: 'string' }, { type: 'null' }] },
    steps: { type: 'array', items: { $ref: '#/$defs/step' } },
  },
  required: ['severity', 'services', 'rollback', 'owner', 'steps'],
  additionalProperties: false,
  $defs: { step: { type: 'object', properties: { n: { type: 'integer' }, cmd: { type: 'string' } }, required: ['n', 'cmd'], additionalProperties: false } },
};

async function jsonSchemaResponse() {
  for (let seed = 1; seed <= SEEDS; ++seed) {
    const r = await unlessRefused('response_format', () =>
      chat({
        response_format: { type: 'json_schema', json_schema: { name: 'incident', schema: incidentSchema, strict: true } },
        temperature: 1,
        seed,
        max_tokens: 256,
      }),
    );
    const c = r.choices[0];
    const text = c.message.content ?? '';
    const state = jsonState(text);
    if (state === 'invalid') ignored('response_format', `json_schema reply is not JSON: ${JSON.stringify(text.slice(0, 60))}`);
    if (c.finish_reason === 'length') {  // cut off by max_tokens: JSON's beginning
      assert.equal(state, 'prefix', `seed ${seed}: ${text}`);
      continue;
    }
    parsesAndValidates(text, incidentSchema, `seed ${seed}: content`);
  }
}

async function jsonObjectResponse() {
  for (let seed = 1; seed <= SEEDS; ++seed) {
    const r = await unlessRefused('response_format', () =>
      chat({ response_format: { type: 'json_object' }, temperature: 1, seed, max_tokens: 128 }),
    );
    const c = r.choices[0];
    const text = c.message.content ?? '';
    const state = jsonState(text);
    if (state === 'invalid' || !text.trimStart().startsWith('{'))
      ignored('response_format', `json_object reply is not a JSON object: ${JSON.stringify(text.slice(0, 60))}`);
    if (c.finish_reason === 'length') {
      assert.equal(state, 'prefix', `seed ${seed}: ${text}`);
      continue;
    }
    const v = parsesAndValidates(text, null, `seed ${seed}: content`);
    assert.equal(typeof v, 'object');
  }
}

async function chatLogprobs() {
  const r = await unlessRefused('logprobs', () => chat({ logprobs: true, top_logprobs: 3 }));
  const lp = r.choices[0].logprobs;
  if (!lp) ignored('logprobs', 'chat logprobs are null');
  assert.equal(lp.content.length, r.usage.completion_tokens);
  for (const t of lp.content) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    for (let i = 1; i < 3; ++i) assert.ok(t.top_logprobs[i - 1].logprob >= t.top_logprobs[i].logprob);
    assert.equal(t.top_logprobs[0].token, t.token, 'greedy: the chosen token is the top-1');
    assert.equal(t.top_logprobs[0].logprob, t.logprob);
  }
  const streamed = await chat({ logprobs: true, top_logprobs: 3, stream: true });
  const tokens = [];
  for await (const chunk of streamed) for (const c of chunk.choices) tokens.push(...(c.logprobs?.content ?? []));
  assert.deepEqual(tokens.map((t) => t.token), lp.content.map((t) => t.token));
}

async function completionLogprobs() {
  const r = await unlessRefused('logprobs', () =>
    client.completions.create({ model: chatModel, prompt: 'kubectl get', max_tokens: 6, temperature: 0, logprobs: 2 }),
  );
  const lp = r.choices[0].logprobs;
  if (!lp) ignored('logprobs', 'completion logprobs are null');
  assert.equal(lp.tokens.length, r.usage.completion_tokens);
  assert.equal(lp.token_logprobs.length, lp.tokens.length);
  lp.top_logprobs.forEach((top, i) => {
    const best = Object.entries(top).sort((a, b) => b[1] - a[1])[0];
    assert.equal(best[0], lp.tokens[i], 'greedy: the chosen token is the top-1');
  });
}

// The checks' own JSON prefix classifier (a wrong one would let broken replies pass).
async function jsonStateSelfTest() {
  const cases = {
    complete: ['{}', ' {"a": [1, -2.5e3, true, null, "x\\"y\\u00e9"]} ', '[]', '"s"', '0'],
    prefix: ['', '{', '{"a', '{"a": [1, 2', '{"a": tr', '[1.', '"x\\', '{"a":1,', '-'],
    invalid: ['{a}', '{"a" 1}', '[1,]', 'tru e', '{"a":1}}', '01', '"\\q"', 'hello', '{"a":1} x'],
  };
  for (const [want, texts] of Object.entries(cases))
    for (const t of texts) assert.equal(jsonState(t), want, JSON.stringify(t));
}

const CASES = [
  jsonStateSelfTest,
  modelsList, chatNonStreamed, chatStreamed, completions, embeddingsFloatAndBase64, embeddingsOfTokenIds,
  errorsAreTypedExceptions,
  // Other branches of issue 15:
  forcedToolCall, toolCallStreamed, jsonSchemaResponse, jsonObjectResponse, chatLogprobs, completionLogprobs,
];

console.log(`openai ${clientVersion} (node ${process.version}) against ${baseURL}`);
let failed = 0;
const only = process.env.DM_E2E_ONLY?.split(',');  // case names: run just those
for (const c of CASES) {
  if (only && !only.includes(c.name)) continue;
  try {
    await c();
    console.log(`PASS ${c.name}`);
  } catch (e) {
    if (e instanceof Skip) {
      console.log(`SKIP ${c.name}: ${e.message}`);
    } else {
      ++failed;
      console.log(`FAIL ${c.name}: ${e.stack ?? e}`);
    }
  }
}
console.log(failed ? `${failed} case(s) failed` : 'all cases passed or skipped');
process.exit(failed ? 1 : 0);
