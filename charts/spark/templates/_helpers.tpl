{{/*
Names, labels and the pieces every SPaRK workload shares (container, volumes, probes), so that a
Deployment and a Knative Service of the same service run the same container.
*/}}

{{- define "spark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-spark, or the release name alone when it already says spark. */}}
{{- define "spark.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of one component's objects: (dict "root" $ "component" "judge") */}}
{{- define "spark.componentName" -}}
{{- printf "%s-%s" (include "spark.fullname" .root | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "spark.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: (dict "root" $ "component" "judge") */}}
{{- define "spark.labels" -}}
helm.sh/chart: {{ include "spark.chart" .root }}
{{ include "spark.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: spark
{{- end }}

{{- define "spark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spark.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Every pod of this release (for NetworkPolicy peers). */}}
{{- define "spark.releasePodLabels" -}}
app.kubernetes.io/name: {{ include "spark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* registry/repository:tag or @digest: (dict "image" .Values.image "root" $) */}}
{{- define "spark.imageRef" -}}
{{- $repo := .image.repository }}
{{- if .image.registry }}{{ $repo = printf "%s/%s" .image.registry .image.repository }}{{ end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repo .image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (.image.tag | default .root.Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "spark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spark.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "spark.trainerServiceAccountName" -}}
{{- if .Values.trainer.serviceAccount.create }}
{{- default (include "spark.componentName" (dict "root" . "component" "trainer")) .Values.trainer.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.trainer.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "spark.artifactsClaim" -}}
{{- .Values.artifacts.persistence.existingClaim | default (include "spark.componentName" (dict "root" . "component" "artifacts")) }}
{{- end }}

{{/* Whether a service runs as a Knative Service: (dict "root" $ "component" "judge") */}}
{{- define "spark.isKnative" -}}
{{- if and (eq .root.Values.mode "knative") (ne .component "trainer") }}true{{ end }}
{{- end }}

{{/* host:port other services and clients dial. Knative Services listen on the cluster gateway's port 80. */}}
{{- define "spark.address" -}}
{{- $svc := index .root.Values.services .component }}
{{- $name := include "spark.componentName" . }}
{{- if include "spark.isKnative" . }}
{{- printf "%s.%s.svc.cluster.local:80" $name .root.Release.Namespace }}
{{- else }}
{{- printf "%s.%s.svc.cluster.local:%d" $name .root.Release.Namespace (int $svc.ports.grpc) }}
{{- end }}
{{- end }}

{{- define "spark.secretName" -}}
{{- include "spark.componentName" (dict "root" . "component" "secrets") }}
{{- end }}

{{/* Pod annotations that roll pods when the config or the chart-made secret changes. */}}
{{- define "spark.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}

{{/*
Environment of a SPaRK container: (dict "root" $ "component" "judge" "env" map "extraEnv" list).
Listen settings are fixed per container; shared settings come from the ConfigMap (envFrom).
*/}}
{{- define "spark.env" -}}
{{- $root := .root }}
- name: SPARK_HOST
  value: "0.0.0.0"
{{- with (index $root.Values.services .component) }}
- name: SPARK_PORT
  value: {{ .ports.grpc | quote }}
- name: SPARK_METRICS_PORT
  value: {{ .ports.metrics | quote }}
{{- end }}
{{- if eq .component "judge" }}
{{- if or $root.Values.judge.apiKey.existingSecret $root.Values.judge.apiKey.value }}
- name: OPENAI_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.judge.apiKey.existingSecret | default (include "spark.secretName" $root) }}
      key: {{ ternary $root.Values.judge.apiKey.existingSecretKey "OPENAI_API_KEY" (ne $root.Values.judge.apiKey.existingSecret "") }}
{{- end }}
{{- end }}
{{- if or $root.Values.auth.existingSecret $root.Values.auth.token }}
- name: SPARK_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.auth.existingSecret | default (include "spark.secretName" $root) }}
      key: {{ ternary $root.Values.auth.existingSecretKey "SPARK_AUTH_TOKEN" (ne $root.Values.auth.existingSecret "") }}
{{- end }}
{{- if ne $root.Values.tls.mode "off" }}
- name: SPARK_TLS
  value: {{ $root.Values.tls.mode | quote }}
- name: SPARK_TLS_CERT_FILE
  value: /etc/spark/tls/tls.crt
- name: SPARK_TLS_KEY_FILE
  value: /etc/spark/tls/tls.key
{{- if eq $root.Values.tls.mode "mtls" }}
- name: SPARK_TLS_CA_FILE
  value: /etc/spark/tls/ca.crt
{{- end }}
{{- end }}
{{- range $k, $v := .env }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- with .extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volume mounts of a SPaRK container (same for services and training Jobs). */}}
{{- define "spark.volumeMounts" -}}
- name: artifacts
  mountPath: {{ .Values.artifacts.mountPath }}
- name: tmp
  mountPath: /tmp
{{- if .Values.config.file }}
- name: config
  mountPath: /etc/spark/spark.yaml
  subPath: spark.yaml
  readOnly: true
{{- end }}
{{- if ne .Values.tls.mode "off" }}
- name: tls
  mountPath: /etc/spark/tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "spark.volumes" -}}
- name: artifacts
{{- if .Values.artifacts.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "spark.artifactsClaim" . }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- if .Values.config.file }}
- name: config
  configMap:
    name: {{ include "spark.componentName" (dict "root" . "component" "config") }}
    items:
      - key: spark.yaml
        path: spark.yaml
{{- end }}
{{- if ne .Values.tls.mode "off" }}
- name: tls
  secret:
    secretName: {{ required "tls.secretName is required when tls.mode is tls or mtls" .Values.tls.secretName }}
{{- end }}
{{- end }}

{{/*
Probes on grpc.health.v1 (native gRPC probes). Kubelet cannot speak TLS to them, so with TLS on the
probes read the metrics server's /healthz instead. Knative revisions take no startupProbe (its
readiness gate covers start-up): (dict "root" $ "svc" $svc "knative" bool)
*/}}
{{- define "spark.probes" -}}
{{- $p := .root.Values.probes }}
{{- $kinds := list "startup" "liveness" "readiness" }}
{{- if .knative }}{{ $kinds = list "liveness" "readiness" }}{{ end }}
{{- range $kind := $kinds }}
{{ $kind }}Probe:
{{- if eq $.root.Values.tls.mode "off" }}
  grpc:
    port: {{ $.svc.ports.grpc }}
{{- else }}
  httpGet:
    path: /healthz
    port: {{ $.svc.ports.metrics }}
{{- end }}
{{- toYaml (index $p $kind) | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The service container: (dict "root" $ "component" "judge" "knative" bool).
Knative allows one port (named h2c for gRPC) and sets no name of its own choosing.
*/}}
{{- define "spark.container" -}}
{{- $root := .root }}
{{- $svc := index $root.Values.services .component }}
{{- $image := mergeOverwrite (deepCopy $root.Values.image) ($svc.image | default dict) }}
- name: {{ .component }}
  image: {{ include "spark.imageRef" (dict "image" $image "root" $root) }}
  imagePullPolicy: {{ $image.pullPolicy }}
  args: ["serve", {{ .component | quote }}]
  ports:
{{- if .knative }}
    - name: h2c
      containerPort: {{ $svc.ports.grpc }}
      protocol: TCP
{{- else }}
    - name: grpc
      containerPort: {{ $svc.ports.grpc }}
      protocol: TCP
    - name: http-metrics
      containerPort: {{ $svc.ports.metrics }}
      protocol: TCP
{{- end }}
  envFrom:
    - configMapRef:
        name: {{ include "spark.componentName" (dict "root" $root "component" "config") }}
  env:
    {{- include "spark.env" (dict "root" $root "component" .component "env" $svc.env "extraEnv" $svc.extraEnv) | trim | nindent 4 }}
    {{- if eq .component "trainer" }}
    - name: SPARK_TRAINER_EXECUTOR
      value: {{ $root.Values.trainer.executor | quote }}
    - name: SPARK_TRAINER_JOB_TEMPLATE
      value: /etc/spark/trainer/job-template.yaml
    - name: SPARK_TRAINER_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    {{- end }}
  {{- include "spark.probes" (dict "root" $root "svc" $svc "knative" .knative) | trim | nindent 2 }}
  resources:
    {{- toYaml $svc.resources | nindent 4 }}
  securityContext:
    {{- toYaml $root.Values.securityContext | nindent 4 }}
  volumeMounts:
    {{- include "spark.volumeMounts" $root | nindent 4 }}
    {{- if eq .component "trainer" }}
    - name: job-template
      mountPath: /etc/spark/trainer
      readOnly: true
    {{- end }}
{{- end }}
