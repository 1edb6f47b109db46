/**
 * Rendering charts/spark (scripts/render-chart.sh: helm when on PATH, else the Go renderer) and checking
 * what comes out: core kinds against the Kubernetes JSON schemas (kubernetes-models, Kubernetes 1.27),
 * CRD kinds against the shapes in ./crd-schemas.ts (ajv).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { REPO_ROOT } from '../../services/common/paths.js';
import { CRD_SCHEMAS } from './crd-schemas.js';

export const CHART_DIR = join(REPO_ROOT, 'charts/spark');
const RENDER = join(REPO_ROOT, 'scripts/render-chart.sh');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; generateName?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };

export interface RenderResult { code: number | null; stdout: string; stderr: string }

/** Runs scripts/render-chart.sh with `args` (-f, --set, --notes, ...). */
export function renderRaw(args: string[], env: NodeJS.ProcessEnv = {}): RenderResult {
  const r = spawnSync('bash', [RENDER, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Renders and parses the manifests; throws with the renderer's message when it fails. */
export function render(args: string[] = []): K8sObject[] {
  const r = renderRaw(args);
  if (r.code !== 0) throw new Error(`render-chart.sh ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return parseManifests(r.stdout);
}

export function parseManifests(text: string): K8sObject[] {
  const docs = parseAllDocuments(text);
  for (const d of docs) if (d.errors.length) throw new Error(`rendered YAML does not parse: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ModelCtor = new (data: any) => { validate(): void };
const CORE_MODELS: Record<string, ModelCtor> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Pod': Pod,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

const ajv = new Ajv({ allErrors: true, strict: false });
const crdValidators = Object.fromEntries(Object.entries(CRD_SCHEMAS).map(([k, schema]) => [k, ajv.compile(schema)]));

export function formatAjvErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`).join('; ');
}

/**
 * Problems of one object: schema errors of its kind, and for Knative Services their revision's pod
 * (containers, volumes) checked as a core Pod too. An unknown kind is a problem.
 */
export function validateObject(obj: K8sObject): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const where = `${obj.kind} ${obj.metadata?.name}`;
  const problems: string[] = [];
  const Model = CORE_MODELS[key];
  const crd = crdValidators[key];
  if (Model) {
    try { new Model(obj).validate(); } catch (err) { problems.push(`${where}: ${(err as Error).message}`); }
  } else if (crd) {
    if (!crd(obj)) problems.push(`${where}: ${formatAjvErrors(crd.errors)}`);
  } else {
    problems.push(`${where}: no schema for ${key}`);
  }
  if (key === 'serving.knative.dev/v1/Service') {
    const { containerConcurrency: _c, timeoutSeconds: _t, ...podSpec } = obj.spec?.template?.spec ?? {};
    try { new Pod({ metadata: { name: obj.metadata.name }, spec: podSpec }).validate(); } catch (err) { problems.push(`${where} (revision pod): ${(err as Error).message}`); }
  }
  return problems;
}

export const byKind = (objs: K8sObject[], kind: string, apiVersion?: string) =>
  objs.filter((o) => o.kind === kind && (!apiVersion || o.apiVersion === apiVersion));

export function find(objs: K8sObject[], kind: string, name: string, apiVersion?: string): K8sObject {
  const o = byKind(objs, kind, apiVersion).find((x) => x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} among ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

/** The training Job the trainer submits: the batch/v1 Job inside the train-job ConfigMap. */
export function jobTemplate(objs: K8sObject[]): K8sObject {
  const cm = byKind(objs, 'ConfigMap').find((c) => c.metadata.labels?.['app.kubernetes.io/component'] === 'train-job');
  if (!cm) throw new Error('no train-job ConfigMap rendered');
  return parseManifests(cm.data['job-template.yaml'])[0];
}

/** Pod specs of every workload (Deployments, Knative revisions, the training Job template), by name. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function podSpecs(objs: K8sObject[]): Array<{ name: string; kind: string; spec: any }> {
  const out = [
    ...byKind(objs, 'Deployment').map((d) => ({ name: d.metadata.name, kind: 'Deployment', spec: d.spec.template.spec })),
    ...byKind(objs, 'Service', 'serving.knative.dev/v1').map((k) => ({ name: k.metadata.name, kind: 'KnativeService', spec: k.spec.template.spec })),
  ];
  if (byKind(objs, 'ConfigMap').some((c) => c.metadata.labels?.['app.kubernetes.io/component'] === 'train-job')) {
    const job = jobTemplate(objs);
    out.push({ name: 'train-job', kind: 'Job', spec: job.spec.template.spec });
  }
  return out;
}

/** Whether `selector` (matchLabels) selects an object carrying `labels`. */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
