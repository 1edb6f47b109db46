/** Questions shared by tests of the judge (unit and gRPC), with a key the offline judge can check. */
import { Question } from '../../services/common/gen/spark/v1/common.js';

/** A chemistry question whose answer (B, 18.02) a molar-mass tool output confirms. */
export const WATER_MOLAR_MASS_QUESTION = Question.fromPartial({
  questionId: 1234,
  question: 'What is the molar mass of water (H2O), in g/mol?',
  options: ['16.00', '18.02', '20.01', '2.02'],
  answer: 'B',
  category: 'chemistry',
});
