/**
 * charts/spark rendered for every values file and both modes (helm when on PATH, else the Go renderer)
 * and checked as a cluster would: every object against the Kubernetes schemas or its CRD's shape,
 * probes and securityContext on every container, GPU scheduling of the training Job, selectors that
 * select, and the rendered environment accepted by the services' own config schemas.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_PORTS, loadConfig, SERVER_ENV, SERVICE_NAMES, serverConfigSchema, type ServiceName } from '../services/common/config.js';
import { REPO_ROOT } from '../services/common/paths.js';
import { resolvePipelineConfig } from '../services/cli/pipeline/config.js';
import { SERVICES } from '../services/cli/services.js';
import { kubernetesExecutorConfigSchema } from '../services/trainer/k8s/config.js';
import { buildTrainingJob, loadJobTemplate } from '../services/trainer/k8s/manifest.js';
import { byKind, find, jobTemplate, podSpecs, render, renderRaw, selects, validateObject, type K8sObject } from './helpers/chart.js';

const LOCAL = ['-f', 'deploy/values-local.yaml'];
const GPU = ['-f', 'deploy/values-gpu.yaml'];
const KNATIVE = ['--set', 'mode=knative'];
const MTLS = ['--set', 'tls.mode=mtls', '--set', 'tls.secretName=spark-tls', '--set', 'judge.apiKey.value=sk-test-key', '--set', 'auth.token=0123456789abcdef0123'];

/** Every values file × both modes, plus KEDA and mutual TLS with chart-made secrets. */
const VARIANTS: Record<string, string[]> = {
  'defaults': [],
  'defaults, knative': KNATIVE,
  'values-local': LOCAL,
  'values-local, knative': [...LOCAL, ...KNATIVE],
  'values-gpu': GPU,
  'values-gpu, knative': [...GPU, ...KNATIVE],
  'keda autoscaling': ['--set', 'autoscaling.keda.enabled=true'],
  'mtls + inline secrets': MTLS,
};

const component = (o: K8sObject) => o.metadata.labels?.['app.kubernetes.io/component'] as ServiceName;
const valuesOf = (file: string) => parseYaml(readFileSync(join(REPO_ROOT, file), 'utf8'));

describe.each(Object.entries(VARIANTS))('chart rendered with %s', (_label, args) => {
  const objs = render(args);
  const tls = args.includes('tls.mode=mtls');
  const knative = args.includes('mode=knative');

  it('renders only objects that match the Kubernetes schemas or their CRD shapes', () => {
    expect(objs.length).toBeGreaterThan(10);
    expect(objs.flatMap(validateObject)).toEqual([]);
    const job = jobTemplate(objs);
    expect(validateObject(job)).toEqual([]);
  });

  it('runs each of the five services once, as a Deployment or (knative mode) a Knative Service', () => {
    const deployments = byKind(objs, 'Deployment').map(component).sort();
    const ksvcs = byKind(objs, 'Service', 'serving.knative.dev/v1').map(component).sort();
    if (knative) {
      expect(deployments).toEqual(['trainer']);
      expect(ksvcs).toEqual(['dataset', 'evaluator', 'judge', 'trajectory']);
    } else {
      expect(deployments).toEqual([...SERVICE_NAMES].sort());
      expect(ksvcs).toEqual([]);
    }
  });

  it('puts liveness and readiness probes (and startup outside Knative) on every service container', () => {
    for (const { name, kind, spec } of podSpecs(objs).filter((p) => p.kind !== 'Job')) {
      for (const c of spec.containers) {
        const grpcPort = DEFAULT_PORTS[c.name as ServiceName].grpc;
        const kinds = kind === 'KnativeService' ? ['livenessProbe', 'readinessProbe'] : ['startupProbe', 'livenessProbe', 'readinessProbe'];
        for (const probe of kinds) {
          expect(c[probe], `${name} ${probe}`).toBeDefined();
          if (tls) expect(c[probe].httpGet, `${name} ${probe}`).toEqual({ path: '/healthz', port: DEFAULT_PORTS[c.name as ServiceName].metrics });
          else expect(c[probe].grpc, `${name} ${probe}: native gRPC probe on grpc.health.v1`).toEqual({ port: grpcPort });
        }
      }
    }
  });

  it('runs every container non-root, read-only, without privilege escalation, capabilities or seccomp exemptions', () => {
    const specs = podSpecs(objs);
    expect(specs.some((p) => p.kind === 'Job')).toBe(true);
    for (const { name, kind, spec } of specs) {
      if (kind !== 'KnativeService') {
        // Knative takes no pod-level securityContext without a feature flag; its containers carry it all.
        expect(spec.securityContext, name).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      }
      for (const c of spec.containers) {
        expect(c.securityContext, `${name}/${c.name}`).toMatchObject({
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(c.securityContext.runAsUser).toBeGreaterThan(0);
        // A read-only root needs a writable /tmp.
        expect(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain('/tmp');
      }
    }
  });

  it('names ports grpc / http-metrics (h2c in Knative) on the services\' default ports', () => {
    for (const svc of byKind(objs, 'Service', 'v1')) {
      const name = component(svc);
      expect(svc.spec.ports, svc.metadata.name).toEqual([
        expect.objectContaining({ name: 'grpc', port: DEFAULT_PORTS[name].grpc, targetPort: 'grpc', appProtocol: 'grpc' }),
        expect.objectContaining({ name: 'http-metrics', port: DEFAULT_PORTS[name].metrics, targetPort: 'http-metrics' }),
      ]);
    }
    for (const { kind, spec } of podSpecs(objs).filter((p) => p.kind !== 'Job')) {
      const c = spec.containers[0];
      const ports = DEFAULT_PORTS[c.name as ServiceName];
      if (kind === 'KnativeService') expect(c.ports).toEqual([{ name: 'h2c', containerPort: ports.grpc, protocol: 'TCP' }]);
      else expect(c.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort])).toEqual([['grpc', ports.grpc], ['http-metrics', ports.metrics]]);
    }
  });

  it('gives every service an environment its own config schema accepts, on the ports it exposes', () => {
    const config = find(objs, 'ConfigMap', 'spark-config');
    for (const { name, spec } of podSpecs(objs).filter((p) => p.kind !== 'Job')) {
      const c = spec.containers[0];
      const service = c.name as ServiceName;
      expect(c.args).toEqual(['serve', service]);
      expect(c.envFrom).toEqual([{ configMapRef: { name: 'spark-config' } }]);
      const env: Record<string, string> = { ...config.data };
      for (const e of c.env) env[e.name] = e.value ?? `placeholder-from-${e.valueFrom.secretKeyRef?.name ?? 'field'}-0123456789`;
      const module = SERVICES[service];
      const parsed = loadConfig(module.configSchema ?? serverConfigSchema(service), { env, envNames: { ...SERVER_ENV, ...module.configEnv } });
      expect(parsed, name).toMatchObject({ host: '0.0.0.0', port: DEFAULT_PORTS[service].grpc, metricsPort: DEFAULT_PORTS[service].metrics, artifactRoot: '/var/lib/spark/artifacts', tls: tls ? 'mtls' : 'off' });
    }
  });

  it('schedules the training Job template on the GPU pool with GPU limits, tolerations and shared memory', () => {
    const job = jobTemplate(objs);
    const pod = job.spec.template.spec;
    const gpus = args.includes('deploy/values-local.yaml') ? 0 : 1;
    expect(job.metadata.generateName).toMatch(/spark-train-$/);
    expect(pod.restartPolicy).toBe('Never');
    const train = pod.containers[0];
    expect(train.resources.limits['nvidia.com/gpu']).toBe(String(gpus));
    expect(train.resources.requests['nvidia.com/gpu']).toBe(String(gpus));
    expect(train.image).toMatch(/spark-ts\/spark-trainer:/);
    if (gpus) {
      expect(pod.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
      expect(pod.nodeSelector['nvidia.com/gpu.present']).toBe('true');
    }
    const shm = pod.volumes.find((v: { name: string }) => v.name === 'dshm');
    expect(shm.emptyDir.medium).toBe('Memory');
    expect(train.volumeMounts).toContainEqual({ name: 'dshm', mountPath: '/dev/shm' });
    // The Job writes checkpoints where the services read them.
    const artifacts = pod.volumes.find((v: { name: string }) => v.name === 'artifacts');
    const trainer = podSpecs(objs).find((p) => p.name === 'spark-trainer')!;
    expect(artifacts).toEqual(trainer.spec.volumes.find((v: { name: string }) => v.name === 'artifacts'));
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('has selectors that select: Services, PDBs and monitors find their pods, autoscalers their Deployments', () => {
    const workloads = [
      ...byKind(objs, 'Deployment').map((d) => ({ kind: 'Deployment', name: d.metadata.name, labels: d.spec.template.metadata.labels })),
      ...byKind(objs, 'Service', 'serving.knative.dev/v1').map((k) => ({ kind: 'Knative', name: k.metadata.name, labels: k.spec.template.metadata.labels })),
    ];
    for (const d of byKind(objs, 'Deployment')) expect(selects(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
    for (const s of byKind(objs, 'Service', 'v1')) expect(workloads.filter((w) => selects(s.spec.selector, w.labels)).map((w) => w.name)).toEqual([s.metadata.name]);
    for (const p of byKind(objs, 'PodDisruptionBudget')) expect(workloads.filter((w) => selects(p.spec.selector.matchLabels, w.labels))).toHaveLength(1);
    for (const m of byKind(objs, 'ServiceMonitor')) {
      const svcs = byKind(objs, 'Service', 'v1').filter((s) => selects(m.spec.selector.matchLabels, s.metadata.labels));
      expect(svcs, m.metadata.name).toHaveLength(1);
      for (const ep of m.spec.endpoints) expect(svcs[0].spec.ports.map((p: { name: string }) => p.name)).toContain(ep.port);
    }
    for (const m of byKind(objs, 'PodMonitor')) {
      const pods = workloads.filter((w) => selects(m.spec.selector.matchLabels, w.labels));
      expect(pods.map((w) => w.kind)).toEqual(['Knative']);
      expect(m.spec.podMetricsEndpoints[0].targetPort).toBe(DEFAULT_PORTS[component(m)].metrics);
    }
    for (const a of [...byKind(objs, 'HorizontalPodAutoscaler'), ...byKind(objs, 'ScaledObject')]) {
      expect(find(objs, 'Deployment', a.spec.scaleTargetRef.name).kind).toBe('Deployment');
    }
    const trainPod = jobTemplate(objs).spec.template.metadata.labels;
    for (const n of byKind(objs, 'NetworkPolicy')) {
      const target = workloads.filter((w) => selects(n.spec.podSelector.matchLabels, w.labels));
      if (n.metadata.name === 'spark-train') {
        // Selects training pods even after the trainer relabels them (it sets its own name label).
        expect(selects(n.spec.podSelector.matchLabels, { ...trainPod, 'app.kubernetes.io/name': 'spark-ts' })).toBe(true);
        expect(target).toEqual([]);
        expect(n.spec.ingress).toEqual([]);
      } else {
        expect(target.map((w) => w.kind)).toEqual(['Deployment']);
      }
    }
  });
});

describe('chart features', () => {
  it('has validators that reject what a cluster (or its CRDs) would reject', () => {
    const objs = [...render(KNATIVE), ...render(['--set', 'autoscaling.keda.enabled=true'])];
    const broken = (o: K8sObject, mutate: (copy: K8sObject) => void) => { const copy = structuredClone(o); mutate(copy); return validateObject(copy).join('; '); };
    const trainer = find(objs, 'Deployment', 'spark-trainer');
    expect(broken(trainer, (d) => { d.spec.template.spec.containers[0].livenessProbe.grpc.port = 'grpc'; })).toMatch(/livenessProbe\/grpc\/port must be integer/);
    expect(broken(trainer, (d) => { delete d.spec.selector; })).toMatch(/data\/spec must have required property selector/);
    const ksvc = find(objs, 'Service', 'spark-judge', 'serving.knative.dev/v1');
    expect(broken(ksvc, (k) => { k.spec.template.spec.containers[0].ports.push({ name: 'http1', containerPort: 9462 }); })).toMatch(/ports must NOT have more than 1 item/);
    expect(broken(ksvc, (k) => { k.spec.template.spec.containers[0].securityContext.privileged = false; })).toMatch(/must NOT have additional properties \(privileged\)/);
    expect(broken(ksvc, (k) => { k.spec.template.spec.containers[0].env[0].value = 1; })).toMatch(/revision pod/);
    const monitor = byKind(objs, 'ServiceMonitor')[0];
    expect(broken(monitor, (m) => { m.spec.endpoints[0].interval = '30 seconds'; })).toMatch(/interval must match pattern/);
    const scaled = byKind(objs, 'ScaledObject')[0];
    expect(broken(scaled, (o) => { o.spec.triggers[0].metadata.threshold = 20; })).toMatch(/threshold must be string/);
    const rule = byKind(objs, 'PrometheusRule')[0];
    expect(broken(rule, (r) => { r.spec.groups[0].rules[0].alert = 'X'; })).toMatch(/must match exactly one schema in oneOf/);
    expect(validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toEqual(['Widget w: no schema for example.com/v1/Widget']);
  });

  it('renders ServiceMonitors, the PrometheusRule from deploy/prometheus/rules.yaml and the dashboards by default', () => {
    const objs = render();
    const monitors = byKind(objs, 'ServiceMonitor');
    expect(monitors.map(component).sort()).toEqual([...SERVICE_NAMES].sort());
    for (const m of monitors) {
      expect(m.metadata.labels?.release).toBe('kube-prometheus-stack');
      expect(m.spec.endpoints[0]).toMatchObject({ port: 'http-metrics', path: '/metrics', honorLabels: true });
      expect(m.spec.endpoints[0].relabelings).toEqual([{ targetLabel: 'spark_component', replacement: component(m) }]);
    }
    const rule = byKind(objs, 'PrometheusRule')[0];
    expect(rule.spec).toEqual(parseYaml(readFileSync(join(REPO_ROOT, 'deploy/prometheus/rules.yaml'), 'utf8')));
    const dashboards = byKind(objs, 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard === '1');
    const titles = dashboards.map((d) => JSON.parse(Object.values(d.data as Record<string, string>)[0]).title).sort();
    expect(titles).toEqual(['SPaRK evaluation', 'SPaRK rollouts', 'SPaRK training']);
    for (const d of dashboards) {
      const [file, json] = Object.entries(d.data as Record<string, string>)[0];
      expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/grafana', file), 'utf8')));
    }
  });

  it('turns all monitoring objects off with monitoring.enabled=false and relabels with --set', () => {
    const kinds = render(['--set', 'monitoring.enabled=false']).map((o) => o.kind);
    expect(kinds).not.toContain('ServiceMonitor');
    expect(kinds).not.toContain('PrometheusRule');
    const relabelled = render(['--set', 'monitoring.labels.release=prom', '--set', 'monitoring.dashboards.label=my_dash']);
    expect(byKind(relabelled, 'PrometheusRule')[0].metadata.labels?.release).toBe('prom');
    expect(byKind(relabelled, 'ConfigMap').filter((c) => c.metadata.labels?.my_dash === '1')).toHaveLength(3);
  });

  it('in knative mode scales to zero on concurrency, scrapes per pod and dials peers through the gateway', () => {
    const objs = render(KNATIVE);
    const judge = find(objs, 'Service', 'spark-judge', 'serving.knative.dev/v1');
    expect(judge.metadata.labels?.['networking.knative.dev/visibility']).toBe('cluster-local');
    expect(judge.spec.template.metadata.annotations).toMatchObject({
      'autoscaling.knative.dev/min-scale': '0',
      'autoscaling.knative.dev/metric': 'concurrency',
      'autoscaling.knative.dev/target': '16',
    });
    expect(byKind(objs, 'PodMonitor').map(component).sort()).toEqual(['dataset', 'evaluator', 'judge', 'trajectory']);
    expect(byKind(objs, 'HorizontalPodAutoscaler')).toEqual([]);
    const config = find(objs, 'ConfigMap', 'spark-config').data;
    expect(config.SPARK_JUDGE_ADDRESS).toBe('spark-judge.default.svc.cluster.local:80');
    expect(config.SPARK_TRAINER_ADDRESS).toBe('spark-trainer.default.svc.cluster.local:50054');
  });

  it('autoscales on CPU by default and on the Prometheus query with KEDA', () => {
    expect(byKind(render(), 'HorizontalPodAutoscaler').map(component).sort()).toEqual(['dataset', 'judge']);
    const keda = render(['--set', 'autoscaling.keda.enabled=true', '--namespace', 'ml']);
    expect(byKind(keda, 'HorizontalPodAutoscaler')).toEqual([]);
    const judge = find(keda, 'ScaledObject', 'spark-judge');
    expect(judge.spec.triggers[0]).toEqual({
      type: 'prometheus',
      metadata: {
        serverAddress: 'http://kube-prometheus-stack-prometheus.monitoring.svc:9090',
        query: 'sum(rate(spark_grpc_requests_total{service="judge",namespace="ml"}[2m]))',
        threshold: '20',
      },
    });
  });

  it('gives the trainer a Role to create, watch and delete Jobs and read pod logs; no other pod gets a token', () => {
    const objs = render();
    const role = find(objs, 'Role', 'spark-trainer');
    const allowed = (group: string, resource: string, verb: string) =>
      role.rules.some((r: { apiGroups: string[]; resources: string[]; verbs: string[] }) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    for (const verb of ['create', 'get', 'watch', 'delete']) expect(allowed('batch', 'jobs', verb), verb).toBe(true);
    for (const verb of ['get', 'list', 'watch']) expect(allowed('', 'pods', verb)).toBe(true);
    expect(allowed('', 'pods/log', 'get')).toBe(true);
    expect(allowed('', 'secrets', 'get')).toBe(false);
    expect(find(objs, 'RoleBinding', 'spark-trainer').subjects).toEqual([{ kind: 'ServiceAccount', name: 'spark-trainer', namespace: 'default' }]);
    for (const { name, spec } of podSpecs(objs)) {
      expect(spec.automountServiceAccountToken, name).toBe(name === 'spark-trainer');
    }
    const trainer = find(objs, 'Deployment', 'spark-trainer').spec.template.spec;
    expect(trainer.serviceAccountName).toBe('spark-trainer');
    expect(trainer.containers[0].env).toContainEqual({ name: 'SPARK_TRAINER_JOB_TEMPLATE', value: '/etc/spark/trainer/job-template.yaml' });
    expect(trainer.containers[0].volumeMounts).toContainEqual({ name: 'job-template', mountPath: '/etc/spark/trainer', readOnly: true });
  });

  it('references an existing API-key Secret, or creates one for an inline key (judge only)', () => {
    const existing = render(GPU);
    expect(byKind(existing, 'Secret')).toEqual([]);
    const judgeEnv = find(existing, 'Deployment', 'spark-judge').spec.template.spec.containers[0].env;
    expect(judgeEnv).toContainEqual({ name: 'OPENAI_API_KEY', valueFrom: { secretKeyRef: { name: 'spark-openai', key: 'OPENAI_API_KEY' } } });
    const inline = render(MTLS);
    const secret = find(inline, 'Secret', 'spark-secrets');
    expect(Buffer.from(secret.data.OPENAI_API_KEY, 'base64').toString()).toBe('sk-test-key');
    for (const d of byKind(inline, 'Deployment')) {
      const names = d.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name);
      expect(names.includes('OPENAI_API_KEY'), d.metadata.name).toBe(d.metadata.name === 'spark-judge');
      expect(names).toContain('SPARK_AUTH_TOKEN');
      expect(d.spec.template.spec.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'spark-tls' } });
    }
  });

  it('gives the trainer a Job template its Kubernetes executor loads and turns into a valid GPU Job', () => {
    const objs = render(GPU);
    const file = join(mkdtempSync(join(tmpdir(), 'spark-chart-')), 'job-template.yaml');
    writeFileSync(file, find(objs, 'ConfigMap', 'spark-train-job').data['job-template.yaml']);
    const root = find(objs, 'ConfigMap', 'spark-config').data.SPARK_ARTIFACT_ROOT;
    const config = kubernetesExecutorConfigSchema.parse({ k8sNamespace: 'ml', k8sJobTemplate: file });
    const job = buildTrainingJob({ jobId: 'ppo-1', mode: 'ppo', specPath: `${root}/jobs/trainer/ppo-1/spec.json`, artifactRoot: root }, config, loadJobTemplate(file));
    expect(job.metadata?.name).toBe('spark-train-ppo-1');
    const pod = job.spec!.template.spec!;
    expect(pod.containers[0].resources?.limits?.['nvidia.com/gpu']).toBe('1');
    expect(pod.nodeSelector?.['nvidia.com/gpu.product']).toBe('NVIDIA-H100-80GB-HBM3');
    expect(pod.containers[0].command).toEqual(['node', 'bin/spark.js', 'train', 'run', '--spec', `${root}/jobs/trainer/ppo-1/spec.json`]);
    // The chart's NetworkPolicy still selects the pods after the trainer's relabelling.
    const policy = find(objs, 'NetworkPolicy', 'spark-train');
    expect(selects(policy.spec.podSelector.matchLabels, job.spec!.template.metadata!.labels)).toBe(true);
  });

  it('uses an existing claim instead of making a PVC, and keeps a made one on uninstall', () => {
    expect(find(render(), 'PersistentVolumeClaim', 'spark-artifacts').metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    const objs = render(['--set', 'artifacts.persistence.existingClaim=shared-nfs']);
    expect(byKind(objs, 'PersistentVolumeClaim')).toEqual([]);
    for (const { spec } of podSpecs(objs)) expect(spec.volumes).toContainEqual({ name: 'artifacts', persistentVolumeClaim: { claimName: 'shared-nfs' } });
  });

  it('lets gRPC in from the release\'s pods and /metrics from the monitoring namespace only', () => {
    const policy = find(render(), 'NetworkPolicy', 'spark-judge');
    expect(policy.spec.ingress).toEqual([
      { ports: [{ port: 'grpc', protocol: 'TCP' }], from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'spark', 'app.kubernetes.io/instance': 'spark' } } }] },
      { ports: [{ port: 'http-metrics', protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
    ]);
  });

  it('mounts the pipeline config of values-gpu.yaml (valid for `spark pipeline`) and names it in SPARK_CONFIG_FILE', () => {
    const objs = render(GPU);
    const config = find(objs, 'ConfigMap', 'spark-config').data;
    expect(config.SPARK_CONFIG_FILE).toBe('/etc/spark/spark.yaml');
    expect(parseYaml(config['spark.yaml'])).toEqual(valuesOf('deploy/values-gpu.yaml').config.file);
    // The pipeline accepts it over the paper preset: QLoRA (NF4) on the 8B model.
    const file = join(mkdtempSync(join(tmpdir(), 'spark-chart-')), 'spark.yaml');
    writeFileSync(file, config['spark.yaml']);
    expect(resolvePipelineConfig({ preset: 'paper', file, env: { SPARK_MODEL_PATH: config.SPARK_MODEL_PATH } })).toMatchObject({
      questions: 2_500, maxSteps: 5, selection: 'rarity_first', modelPath: '/var/lib/spark/artifacts/models/Meta-Llama-3.1-8B-Instruct', lora: { rank: 16, quantization: 'nf4' },
    });
    expect(find(objs, 'ConfigMap', 'spark-train-job').data['job-template.yaml']).toContain('NVIDIA-H100-80GB-HBM3');
  });

  it('rolls pods when the config changes (checksum annotation)', () => {
    const sum = (args: string[]) => find(render(args), 'Deployment', 'spark-judge').spec.template.metadata.annotations['checksum/config'];
    expect(sum([])).toMatch(/^[0-9a-f]{64}$/);
    expect(sum(['--set', 'config.logLevel=debug'])).not.toBe(sum([]));
  });

  it('overrides values in helm\'s order: -f files, then --set (escaped dots, null deletes a default)', () => {
    const objs = render([...GPU, '--set', 'trainer.job.nodeSelector.cloud\\.google\\.com/gke-accelerator=nvidia-h100-80gb', '--set', 'trainer.job.tolerations=null', '--set', 'trainer.job.gpus=8']);
    const pod = jobTemplate(objs).spec.template.spec;
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true', 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3', 'cloud.google.com/gke-accelerator': 'nvidia-h100-80gb' });
    expect(pod.tolerations).toBeUndefined();
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBe('8');
  });

  it('prints NOTES telling how to reach the services and the dashboards', () => {
    const r = renderRaw(['--notes', '--namespace', 'ml']);
    expect(r.code).toBe(0);
    for (const name of SERVICE_NAMES) expect(r.stdout).toContain(`spark-${name}.ml.svc.cluster.local:${DEFAULT_PORTS[name].grpc}`);
    expect(r.stdout).toContain('kubectl -n ml port-forward svc/spark-trainer 50054:50054');
    expect(r.stdout).toContain('app.kubernetes.io/component=train\n');
    expect(r.stdout).toContain('"SPaRK training", "SPaRK rollouts"');
    expect(r.stdout).toContain('The judge runs OFFLINE');
  });

  it('fails with a message naming the value when a combination cannot work', () => {
    const noSecret = renderRaw(['--set', 'tls.mode=tls']);
    expect(noSecret.code).not.toBe(0);
    expect(noSecret.stderr).toContain('tls.secretName is required when tls.mode is tls or mtls');
    const knativeTls = renderRaw([...KNATIVE, '--set', 'tls.mode=tls', '--set', 'tls.secretName=x']);
    expect(knativeTls.code).not.toBe(0);
    expect(knativeTls.stderr).toContain('tls.mode must be "off" when mode is knative');
  });
});
