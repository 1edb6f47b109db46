/**
 * The on-disk trajectory format, `OUT/trajectories.jsonl`: one complete trajectory per line, snake_case
 * keys (a contract users' scripts read):
 *
 *   {"question_id", "category", "answer", "steps": [{"index", "action", "thought", "input", "output",
 *    "error", "score", "selection_reason", "is_final", "candidates": [{"action", "thought", "input",
 *    "output", "error", "score", "viable", "rationale"}]}], "final_answer", "correct", "batch"}
 *
 * `input` is the tool input object (null for cot); `selection_reason` is one of SELECTION_REASONS.
 */
import { Candidate, SelectionReason, Step, ToolCall, Trajectory } from '../common/gen/spark/v1/common.js';
import { SELECTION_REASONS, type SelectionReasonName } from './selection.js';

export interface CandidateRecord {
  action: string;
  thought: string;
  input: Record<string, unknown> | null;
  output: string;
  error: string;
  score: number;
  viable: boolean;
  rationale: string;
}

export interface StepRecord extends Omit<CandidateRecord, 'viable' | 'rationale'> {
  index: number;
  selection_reason: SelectionReasonName | '';
  is_final: boolean;
  duration_ms: number;
  candidates: CandidateRecord[];
}

export interface TrajectoryRecord {
  question_id: number;
  category: string;
  /** The key, so the file can be graded and decomposed without the dataset. */
  answer: string;
  steps: StepRecord[];
  final_answer: string;
  correct: boolean;
  /** The scheduling batch the question ran in (usage counts are per batch boundary; see generation.ts). */
  batch: number;
}

/** Trajectories dropped for lack of a viable candidate: `OUT/dropped.jsonl`, so a resumed job skips them. */
export interface DroppedRecord {
  question_id: number;
  category: string;
  reason: string;
  batch: number;
}

// SelectionReason enum value n corresponds to SELECTION_REASONS[n - 1].
const reasonName = (r: SelectionReason): SelectionReasonName | '' => SELECTION_REASONS[r - 1] ?? '';
const reasonEnum = (name: string): SelectionReason => (SELECTION_REASONS.indexOf(name as SelectionReasonName) + 1) as SelectionReason;

function parseInput(call: ToolCall | undefined): Record<string, unknown> | null {
  if (!call?.inputJson) return null;
  try { return JSON.parse(call.inputJson) as Record<string, unknown>; } catch { return { raw: call.inputJson }; }
}

function toolFields(call: ToolCall | undefined) {
  return { input: parseInput(call), output: call?.output ?? '', error: call?.error ?? '' };
}

function toolCallOf(action: string, r: { input: Record<string, unknown> | null; output: string; error: string }, durationMs = 0): ToolCall | undefined {
  if (r.input === null) return undefined;
  return ToolCall.fromPartial({ name: action, inputJson: JSON.stringify(r.input), output: r.output, error: r.error, durationMs });
}

export function candidateToRecord(c: Candidate): CandidateRecord {
  return { action: c.action, thought: c.thought, ...toolFields(c.toolCall), score: c.score, viable: c.viable, rationale: c.rationale };
}

export function toRecord(t: Trajectory, answer: string, batch: number): TrajectoryRecord {
  return {
    question_id: t.questionId,
    category: t.category,
    answer,
    steps: t.steps.map((s) => ({
      index: s.index,
      action: s.action,
      thought: s.thought,
      ...toolFields(s.toolCall),
      duration_ms: s.toolCall?.durationMs ?? 0,
      score: s.score,
      selection_reason: reasonName(s.selectionReason),
      is_final: s.isFinal,
      candidates: s.candidates.map(candidateToRecord),
    })),
    final_answer: t.finalAnswer,
    correct: t.correct,
    batch,
  };
}

export function fromRecord(r: TrajectoryRecord, jobId = ''): Trajectory {
  return Trajectory.fromPartial({
    questionId: r.question_id,
    category: r.category,
    finalAnswer: r.final_answer,
    correct: r.correct,
    jobId,
    steps: r.steps.map((s) => Step.fromPartial({
      index: s.index,
      action: s.action,
      thought: s.thought,
      toolCall: toolCallOf(s.action, s, s.duration_ms),
      score: s.score,
      selectionReason: s.selection_reason ? reasonEnum(s.selection_reason) : SelectionReason.SELECTION_REASON_UNSPECIFIED,
      isFinal: s.is_final,
      candidates: s.candidates.map((c) => Candidate.fromPartial({
        action: c.action, thought: c.thought, score: c.score, viable: c.viable, rationale: c.rationale, toolCall: toolCallOf(c.action, c),
      })),
    })),
  });
}
