{{/*
What both components' pods share: volumes, mounts, security, probes, config checksum. Call with
(dict "root" $ "component" "processor"|"query" "values" .Values.processor|.Values.queryService),
or the parts of it a define uses.
*/}}
{{- define "lantern.podAnnotations" -}}
# A changed lantern.toml rolls the pods: they read it only at start.
checksum/config: {{ include "lantern.toml" .root | sha256sum }}
{{- end }}

{{- define "lantern.volumes" -}}
- name: config
  configMap:
    name: {{ include "lantern.fullname" .root }}-config
- name: data
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-data" (include "lantern.fullname" .root)) .root.Values.persistence.existingClaim }}
- name: tmp
  emptyDir: {}
{{- if and .root.Values.kafka.tls.enabled .root.Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .root.Values.kafka.tls.caSecret }}
{{- end }}
{{- if and (eq .component "query") .root.Values.users.existingSecret }}
- name: users
  secret:
    secretName: {{ .root.Values.users.existingSecret }}
{{- end }}
{{- if and (eq .component "query") .root.Values.disclosureKey.existingSecret }}
- name: disclosure-key
  secret:
    secretName: {{ .root.Values.disclosureKey.existingSecret }}
    defaultMode: 0400
{{- end }}
{{- end }}

{{- define "lantern.volumeMounts" -}}
- name: config
  mountPath: {{ include "lantern.configDir" .root }}/lantern.toml
  subPath: lantern.toml
  readOnly: true
- name: data
  mountPath: {{ include "lantern.dataDir" .root }}
- name: tmp
  mountPath: /tmp
{{- if and .root.Values.kafka.tls.enabled .root.Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: {{ include "lantern.configDir" .root }}/kafka-ca
  readOnly: true
{{- end }}
{{- if and (eq .component "query") .root.Values.users.existingSecret }}
- name: users
  mountPath: {{ include "lantern.configDir" .root }}/users
  readOnly: true
{{- end }}
{{- if and (eq .component "query") .root.Values.disclosureKey.existingSecret }}
- name: disclosure-key
  mountPath: {{ include "lantern.configDir" .root }}/disclosure
  readOnly: true
{{- end }}
{{- end }}

{{- define "lantern.env" -}}
- name: RUST_LOG
  value: {{ .values.logLevel | quote }}
{{- range $name, $value := .root.Values.objectStorage.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- with .root.Values.objectStorage.credentialsSecret }}
# The object store's access key, from the secret: never in the ConfigMap.
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.root.Values.objectStorage.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.root.Values.objectStorage.secretAccessKeyKey }}
{{- end }}
{{- if eq .component "query" }}
# Files a query pod appends to are its own: appends from several pods to one file on a shared
# volume could interleave. (A retried Idempotency-Key that reaches another pod is produced
# again; the processor discards the repeated version, so nothing is counted twice.)
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: LANTERN_QUERY__AUDIT_LOG
  value: {{ printf "%s/audit/$(POD_NAME).log" (include "lantern.dataDir" .root) | quote }}
- name: LANTERN_INTAKE__IDEMPOTENCY_FILE
  value: {{ printf "%s/intake/$(POD_NAME).jsonl" (include "lantern.dataDir" .root) | quote }}
{{- end }}
{{- if and .root.Values.kafka.sasl.enabled .root.Values.kafka.sasl.passwordSecret }}
# librdkafka's sasl.password, from the secret: never in the ConfigMap.
- name: LANTERN_KAFKA_SECRET__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.kafka.sasl.passwordSecret }}
      key: {{ .root.Values.kafka.sasl.passwordKey }}
{{- end }}
{{- end }}

{{- define "lantern.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 10
  failureThreshold: 6
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  failureThreshold: 3
startupProbe:
  # Taking shards over restores their state first; /healthz answers from the start.
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 5
  failureThreshold: 60
{{- end }}
