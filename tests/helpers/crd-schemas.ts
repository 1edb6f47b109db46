/**
 * JSON schemas (draft-07, for ajv) of the custom resources the chart renders, written from their CRDs:
 * prometheus-operator monitoring.coreos.com/v1 (ServiceMonitor, PodMonitor, PrometheusRule), Knative
 * serving.knative.dev/v1 Service, KEDA keda.sh/v1alpha1 ScaledObject. They keep to the fields the CRDs
 * define (unknown ones fail: the API server would prune or reject them) and to Knative's rules for a
 * revision (one port named h2c or http1, the container fields Knative accepts, string annotations).
 */

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const metadata = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
    namespace: { type: 'string' },
    labels: stringMap,
    annotations: stringMap,
  },
};
const labelSelector = {
  type: 'object',
  additionalProperties: false,
  properties: {
    matchLabels: stringMap,
    matchExpressions: { type: 'array', items: { type: 'object', required: ['key', 'operator'] } },
  },
};
/** prometheus-operator's Duration: `^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$` */
const duration = { type: 'string', pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$' };
const intOrString = { anyOf: [{ type: 'integer' }, { type: 'string' }] };
const relabelConfig = {
  type: 'object',
  additionalProperties: false,
  properties: {
    sourceLabels: { type: 'array', items: { type: 'string', pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$' } },
    separator: { type: 'string' },
    targetLabel: { type: 'string' },
    regex: { type: 'string' },
    modulus: { type: 'integer' },
    replacement: { type: 'string' },
    action: { type: 'string', enum: ['replace', 'Replace', 'keep', 'Keep', 'drop', 'Drop', 'hashmod', 'HashMod', 'labelmap', 'LabelMap', 'labeldrop', 'LabelDrop', 'labelkeep', 'LabelKeep', 'lowercase', 'Lowercase', 'uppercase', 'Uppercase', 'keepequal', 'KeepEqual', 'dropequal', 'DropEqual'] },
  },
};
const endpointCommon = {
  path: { type: 'string' },
  scheme: { type: 'string', enum: ['http', 'https'] },
  params: { type: 'object' },
  interval: duration,
  scrapeTimeout: duration,
  honorLabels: { type: 'boolean' },
  honorTimestamps: { type: 'boolean' },
  relabelings: { type: 'array', items: relabelConfig },
  metricRelabelings: { type: 'array', items: relabelConfig },
  tlsConfig: { type: 'object' },
  basicAuth: { type: 'object' },
  authorization: { type: 'object' },
  bearerTokenSecret: { type: 'object' },
  followRedirects: { type: 'boolean' },
  enableHttp2: { type: 'boolean' },
  filterRunning: { type: 'boolean' },
  proxyUrl: { type: 'string' },
};
const namespaceSelector = { type: 'object', additionalProperties: false, properties: { any: { type: 'boolean' }, matchNames: { type: 'array', items: { type: 'string' } } } };

/** ServiceMonitor and PodMonitor differ only in their kind and the list of endpoints. */
function monitorSchema(kind: string, endpointsKey: string, endpoint: object) {
  return {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { const: 'monitoring.coreos.com/v1' },
      kind: { const: kind },
      metadata,
      spec: {
        type: 'object',
        additionalProperties: false,
        required: ['selector', endpointsKey],
        properties: {
          jobLabel: { type: 'string' },
          targetLabels: { type: 'array', items: { type: 'string' } },
          podTargetLabels: { type: 'array', items: { type: 'string' } },
          selector: labelSelector,
          namespaceSelector,
          sampleLimit: { type: 'integer' },
          [endpointsKey]: { type: 'array', minItems: 1, items: endpoint },
        },
      },
    },
  };
}

const serviceMonitor = monitorSchema('ServiceMonitor', 'endpoints', {
  type: 'object',
  additionalProperties: false,
  properties: { port: { type: 'string' }, targetPort: intOrString, bearerTokenFile: { type: 'string' }, ...endpointCommon },
});

const podMonitor = monitorSchema('PodMonitor', 'podMetricsEndpoints', {
  type: 'object',
  additionalProperties: false,
  // A pod endpoint names its port, or gives its number (targetPort: deprecated but served).
  anyOf: [{ required: ['port'] }, { required: ['targetPort'] }, { required: ['portNumber'] }],
  properties: { port: { type: 'string' }, portNumber: { type: 'integer', minimum: 1, maximum: 65535 }, targetPort: intOrString, ...endpointCommon },
});

const prometheusRule = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'monitoring.coreos.com/v1' },
    kind: { const: 'PrometheusRule' },
    metadata,
    spec: {
      type: 'object',
      additionalProperties: false,
      properties: {
        groups: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name'],
            properties: {
              name: { type: 'string', minLength: 1 },
              interval: duration,
              limit: { type: 'integer' },
              partial_response_strategy: { type: 'string' },
              rules: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['expr'],
                  oneOf: [{ required: ['record'] }, { required: ['alert'] }],
                  properties: {
                    record: { type: 'string' },
                    alert: { type: 'string' },
                    expr: intOrString,
                    for: duration,
                    keep_firing_for: duration,
                    labels: stringMap,
                    annotations: stringMap,
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** Container fields a Knative revision accepts (serving's PodSpec allow-list, feature flags off). */
const knativeContainer = {
  type: 'object',
  additionalProperties: false,
  required: ['image'],
  properties: {
    name: { type: 'string' },
    image: { type: 'string', minLength: 1 },
    args: { type: 'array', items: { type: 'string' } },
    command: { type: 'array', items: { type: 'string' } },
    env: { type: 'array' },
    envFrom: { type: 'array' },
    imagePullPolicy: { type: 'string' },
    livenessProbe: { type: 'object' },
    readinessProbe: { type: 'object' },
    ports: {
      type: 'array',
      maxItems: 1,
      items: { type: 'object', additionalProperties: false, required: ['containerPort'], properties: { name: { enum: ['h2c', 'http1'] }, containerPort: { type: 'integer', minimum: 1, maximum: 65535 }, protocol: { const: 'TCP' } } },
    },
    resources: { type: 'object' },
    securityContext: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allowPrivilegeEscalation: { type: 'boolean' },
        capabilities: { type: 'object' },
        readOnlyRootFilesystem: { type: 'boolean' },
        runAsGroup: { type: 'integer' },
        runAsNonRoot: { type: 'boolean' },
        runAsUser: { type: 'integer' },
        seccompProfile: { type: 'object' },
      },
    },
    terminationMessagePath: { type: 'string' },
    terminationMessagePolicy: { type: 'string' },
    volumeMounts: { type: 'array' },
    workingDir: { type: 'string' },
  },
};

const knativeService = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'serving.knative.dev/v1' },
    kind: { const: 'Service' },
    metadata,
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['template'],
      properties: {
        traffic: { type: 'array' },
        template: {
          type: 'object',
          additionalProperties: false,
          required: ['spec'],
          properties: {
            metadata: { type: 'object', properties: { name: { type: 'string' }, labels: stringMap, annotations: stringMap } },
            spec: {
              type: 'object',
              additionalProperties: false,
              required: ['containers'],
              properties: {
                containerConcurrency: { type: 'integer', minimum: 0, maximum: 1000 },
                timeoutSeconds: { type: 'integer', minimum: 0 },
                responseStartTimeoutSeconds: { type: 'integer', minimum: 0 },
                idleTimeoutSeconds: { type: 'integer', minimum: 0 },
                serviceAccountName: { type: 'string' },
                imagePullSecrets: { type: 'array' },
                enableServiceLinks: { type: 'boolean' },
                volumes: { type: 'array' },
                containers: { type: 'array', minItems: 1, items: knativeContainer },
              },
            },
          },
        },
      },
    },
  },
};

const scaledObject = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'keda.sh/v1alpha1' },
    kind: { const: 'ScaledObject' },
    metadata,
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['scaleTargetRef', 'triggers'],
      properties: {
        scaleTargetRef: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' }, envSourceContainerName: { type: 'string' } },
        },
        pollingInterval: { type: 'integer', minimum: 1 },
        cooldownPeriod: { type: 'integer', minimum: 0 },
        idleReplicaCount: { type: 'integer', minimum: 0 },
        minReplicaCount: { type: 'integer', minimum: 0 },
        maxReplicaCount: { type: 'integer', minimum: 1 },
        advanced: { type: 'object' },
        fallback: { type: 'object' },
        triggers: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['type', 'metadata'],
            properties: {
              type: { type: 'string' },
              name: { type: 'string' },
              metricType: { enum: ['AverageValue', 'Value', 'Utilization'] },
              useCachedMetrics: { type: 'boolean' },
              authenticationRef: { type: 'object' },
              // KEDA trigger metadata values are strings.
              metadata: stringMap,
            },
          },
        },
      },
    },
  },
};

/** apiVersion/kind -> schema. */
export const CRD_SCHEMAS: Record<string, object> = {
  'monitoring.coreos.com/v1/ServiceMonitor': serviceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': podMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': prometheusRule,
  'serving.knative.dev/v1/Service': knativeService,
  'keda.sh/v1alpha1/ScaledObject': scaledObject,
};
