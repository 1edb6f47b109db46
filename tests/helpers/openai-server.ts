/**
 * A real local HTTP server speaking the OpenAI chat-completions API (`POST /v1/chat/completions`,
 * `GET /v1/models`), for tests and benchmarks of anything that calls an LLM endpoint (the judge, the
 * generator). It is scriptable per request and observable:
 *
 * - replies: a FIFO of scripted replies (`enqueue`), then a default responder (`respondWith`); a reply sets
 *   the status (429 with Retry-After, 500), headers, latency, the assistant content, a whole JSON body,
 *   or a raw body that is not JSON at all;
 * - latency: per reply, or a server-wide fixed value or [min, max] range;
 * - `rejectJsonSchema`: answer 400 to any request carrying `response_format: json_schema`, like an
 *   endpoint without structured output;
 * - records: every request (parsed body, headers), requests in flight now and at most, requests whose
 *   client went away before the answer (`aborted`), and the latency each reply waited.
 *
 *   const llm = await OpenAIServer.start({ latencyMs: [20, 200] });
 *   llm.enqueue({ status: 429, headers: { 'retry-after': '0' } });
 *   llm.respondWith((req) => ({ content: '{"score": 7, "rationale": "ok"}' }));
 *   // base URL for the openai package: llm.baseUrl ("http://127.0.0.1:PORT/v1")
 *   await llm.close();
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatRequestBody {
  model?: string;
  messages?: Array<{ role: string; content: string }>;
  response_format?: { type: string; json_schema?: { name: string; schema: Record<string, unknown>; strict?: boolean } };
  [key: string]: unknown;
}

export interface RecordedRequest {
  /** 0-based arrival order. */
  seq: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body (undefined when the body was not JSON). */
  body: ChatRequestBody | undefined;
  /** When the request arrived (Date.now()). */
  receivedAtMs: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

export interface Reply {
  /** HTTP status; default 200. Non-2xx statuses get an OpenAI-style error body unless `body`/`rawBody` is set. */
  status?: number;
  headers?: Record<string, string>;
  /** The assistant message content of a 200 reply. */
  content?: string;
  /** Token usage of a 200 reply; default counts ~4 characters per token. */
  usage?: Usage;
  /** The whole JSON body, replacing the chat-completion envelope. */
  body?: unknown;
  /** A raw body sent as-is with content-type application/json (e.g. "not json{"). */
  rawBody?: string;
  /** Wait before answering, ms; overrides the server-wide latency. */
  latencyMs?: number;
}

export type Responder = (request: RecordedRequest) => Reply | Promise<Reply>;

export interface OpenAIServerOptions {
  /** Used when the FIFO is empty; default: 200 with content "{}". */
  responder?: Responder;
  /** Server-wide latency: fixed ms, or uniform in [min, max]. */
  latencyMs?: number | [number, number];
  /** Answer 400 to requests carrying response_format json_schema. */
  rejectJsonSchema?: boolean;
  /** Random source for latency ranges (default Math.random). */
  random?: () => number;
}

export class OpenAIServer {
  readonly requests: RecordedRequest[] = [];
  /** Latency each answered request waited, ms, in completion order. */
  readonly latencies: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Requests whose client disconnected before the answer was sent. */
  aborted = 0;
  /** Requests answered. */
  completed = 0;
  rejectJsonSchema: boolean;
  private readonly queue: Array<Reply | Responder> = [];
  private responder: Responder;
  private readonly random: () => number;

  private constructor(private readonly server: Server, private readonly opts: OpenAIServerOptions) {
    this.responder = opts.responder ?? (() => ({ content: '{}' }));
    this.rejectJsonSchema = opts.rejectJsonSchema ?? false;
    this.random = opts.random ?? Math.random;
  }

  static async start(opts: OpenAIServerOptions = {}): Promise<OpenAIServer> {
    const server = createServer();
    const instance = new OpenAIServer(server, opts);
    server.on('request', (req, res) => void instance.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return instance;
  }

  /** "http://127.0.0.1:PORT/v1", the base URL an OpenAI client takes. */
  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  /** Chat-completion requests received so far. */
  get chatRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith('/chat/completions'));
  }

  /** Scripts the next replies, in order; each is used once. */
  enqueue(...replies: Array<Reply | Responder>): this {
    this.queue.push(...replies);
    return this;
  }

  /** Replaces the responder used when the FIFO is empty. */
  respondWith(responder: Responder): this {
    this.responder = responder;
    return this;
  }

  /** Forgets recorded requests and counters (not the script). */
  resetRecords(): void {
    this.requests.length = 0;
    this.latencies.length = 0;
    this.maxInFlight = this.inFlight;
    this.aborted = 0;
    this.completed = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (answered) return;
      answered = true;
      this.inFlight -= 1;
    };
    res.on('close', () => {
      if (!res.writableFinished) {
        this.aborted += 1;
        if (timer) clearTimeout(timer);
      }
      finish();
    });

    const receivedAtMs = Date.now();
    const raw = await readBody(req);
    const path = (req.url ?? '/').split('?')[0];
    let body: ChatRequestBody | undefined;
    try {
      body = raw ? (JSON.parse(raw) as ChatRequestBody) : undefined;
    } catch {
      body = undefined;
    }
    const recorded: RecordedRequest = { seq: this.requests.length, method: req.method ?? 'GET', path, headers: req.headers, body, receivedAtMs };
    this.requests.push(recorded);

    let reply: Reply;
    if (req.method === 'GET' && path.endsWith('/models')) {
      reply = { body: { object: 'list', data: [{ id: 'test-model', object: 'model', owned_by: 'spark-tests' }] } };
    } else if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
      reply = { status: 404, body: errorBody(`no route ${req.method} ${path}`, 'not_found') };
    } else if (!body) {
      reply = { status: 400, body: errorBody('request body is not JSON', 'invalid_request_error') };
    } else if (this.rejectJsonSchema && body.response_format?.type === 'json_schema') {
      reply = { status: 400, body: errorBody("Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", 'invalid_request_error', 'response_format') };
    } else {
      const next = this.queue.shift() ?? this.responder;
      reply = typeof next === 'function' ? await next(recorded) : next;
    }

    const latency = reply.latencyMs ?? this.sampleLatency();
    if (latency > 0) await new Promise<void>((resolve) => { timer = setTimeout(resolve, latency); });
    if (res.destroyed) return;
    this.latencies.push(latency);
    this.completed += 1;
    this.send(res, reply, body);
  }

  private sampleLatency(): number {
    const l = this.opts.latencyMs;
    if (l === undefined) return 0;
    if (typeof l === 'number') return l;
    return l[0] + this.random() * (l[1] - l[0]);
  }

  private send(res: ServerResponse, reply: Reply, request: ChatRequestBody | undefined): void {
    const status = reply.status ?? 200;
    const headers = { 'content-type': 'application/json', ...reply.headers };
    if (reply.rawBody !== undefined) {
      res.writeHead(status, headers).end(reply.rawBody);
      return;
    }
    const body = reply.body ?? (status >= 200 && status < 300
      ? chatCompletionBody(reply.content ?? '', { model: request?.model, usage: reply.usage ?? estimateUsage(request, reply.content ?? '') })
      : errorBody(`scripted HTTP ${status}`, status === 429 ? 'rate_limit_exceeded' : 'server_error'));
    res.writeHead(status, headers).end(JSON.stringify(body));
  }
}

/** A chat.completion body with one choice. */
export function chatCompletionBody(content: string, opts: { model?: string; usage?: Usage } = {}): Record<string, unknown> {
  const usage = opts.usage ?? { prompt_tokens: 0, completion_tokens: 0 };
  return {
    id: `chatcmpl-test-${Math.random().toString(36).slice(2, 10)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1_000),
    model: opts.model ?? 'test-model',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  };
}

/** An OpenAI-style error body. */
export function errorBody(message: string, type: string, param: string | null = null): Record<string, unknown> {
  return { error: { message, type, param, code: type } };
}

/** ~4 characters per token, so tests and benchmarks see plausible, deterministic usage. */
function estimateUsage(request: ChatRequestBody | undefined, content: string): Usage {
  const promptChars = (request?.messages ?? []).reduce((n, m) => n + String(m.content ?? '').length, 0);
  return { prompt_tokens: Math.ceil(promptChars / 4), completion_tokens: Math.ceil(content.length / 4) };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}

// ---- Canned replies for the judge's contract (services/judge/verdict.ts) ----------------------------

/**
 * How many candidates a judge request asks about: from the JSON schema's `minItems` when structured output
 * is on, else from the "[candidate N]" markers of the prompt; 0 for a single-candidate request.
 */
export function judgeCandidateCount(request: RecordedRequest): number {
  const schema = request.body?.response_format?.json_schema?.schema as { properties?: { scores?: { minItems?: number } } } | undefined;
  const fromSchema = schema?.properties?.scores?.minItems;
  if (typeof fromSchema === 'number') return fromSchema;
  const prompt = (request.body?.messages ?? []).map((m) => m.content).join('\n');
  const markers = prompt.match(/^\[candidate \d+\]$/gm);
  return markers ? markers.length : 0;
}

/**
 * A responder that scores every candidate the way the judge's prompt asks (`{"scores": [...]}` for a batch,
 * `{"score", "rationale"}` for one), with `scoreOf(index)` (default 7).
 */
export function judgeResponder(scoreOf: (index: number, request: RecordedRequest) => unknown = () => 7): Responder {
  return (request) => ({ content: judgeReplyContent(request, scoreOf) });
}

export function judgeReplyContent(request: RecordedRequest, scoreOf: (index: number, request: RecordedRequest) => unknown = () => 7): string {
  const count = judgeCandidateCount(request);
  if (count === 0) return JSON.stringify({ score: scoreOf(0, request), rationale: 'scripted verdict' });
  return JSON.stringify({ scores: Array.from({ length: count }, (_, index) => ({ index, score: scoreOf(index, request), rationale: `scripted verdict ${index}` })) });
}
