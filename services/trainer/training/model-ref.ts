/**
 * Where the models a request names live: base model folders are absolute paths (a model the operator
 * mounted) or relative to the artifact root; adapters and outputs are ArtifactRefs, always inside the
 * artifact root (services/common/artifact-path.ts rejects `../` escapes).
 */
import { isAbsolute } from 'node:path';
import { resolveInArtifactRoot } from '../../common/artifact-path.js';
import { InvalidArgumentError } from '../../common/errors.js';
import { ModelBackend, type ModelRef } from '../../common/gen/spark/v1/common.js';
import type { PolicyKey } from './model-cache.js';

/** A base model folder: absolute as given, relative under the artifact root. */
export function resolveModelPath(artifactRoot: string, path: string, field: string): string {
  if (!path) throw new InvalidArgumentError(field, 'must not be empty', 'a model folder with config.json (absolute, or relative to the artifact root)');
  return isAbsolute(path) ? path : resolveInArtifactRoot(artifactRoot, path, field);
}

/** The (base, adapter) pair a ModelRef names; only the TRAINER backend is served here. */
export function policyKey(model: ModelRef | undefined, artifactRoot: string): PolicyKey {
  if (!model) throw new InvalidArgumentError('model', 'must be set');
  if (model.backend !== ModelBackend.MODEL_BACKEND_TRAINER) {
    throw new InvalidArgumentError('model.backend', `${ModelBackend[model.backend] ?? model.backend} is not served by the trainer`, 'MODEL_BACKEND_TRAINER');
  }
  return {
    baseModelPath: resolveModelPath(artifactRoot, model.baseModelPath, 'model.base_model_path'),
    adapterPath: model.adapter?.uri ? resolveInArtifactRoot(artifactRoot, model.adapter.uri, 'model.adapter.uri') : undefined,
  };
}
