/** The five services by name, for `spark serve` and `spark start`. */
import type { ServiceName } from '../common/config.js';
import type { ServiceModule } from '../common/service.js';
import { datasetService } from '../dataset/main.js';
import { evaluatorService } from '../evaluator/main.js';
import { judgeService } from '../judge/main.js';
import { trainerService } from '../trainer/main.js';
import { trajectoryService } from '../trajectory/main.js';

// Each module's definition type differs; the CLI only needs the common shape.
export const SERVICES: Record<ServiceName, ServiceModule> = {
  dataset: datasetService as unknown as ServiceModule,
  judge: judgeService as unknown as ServiceModule,
  trajectory: trajectoryService as unknown as ServiceModule,
  trainer: trainerService as unknown as ServiceModule,
  evaluator: evaluatorService as unknown as ServiceModule,
};
