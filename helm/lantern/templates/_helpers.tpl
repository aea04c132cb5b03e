{{/* The chart name, or nameOverride. */}}
{{- define "lantern.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: fullnameOverride, or release name + chart name (once). */}}
{{- define "lantern.fullname" -}}
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

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "lantern.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every resource carries. */}}
{{- define "lantern.labels" -}}
helm.sh/chart: {{ include "lantern.chart" . }}
{{ include "lantern.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lantern
{{- end }}

{{/* Labels that select the release's pods (immutable once deployed). */}}
{{- define "lantern.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lantern.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels of one component (processor | query). Call with (dict "root" $ "component" "x"). */}}
{{- define "lantern.componentSelectorLabels" -}}
{{ include "lantern.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "lantern.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lantern.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lantern.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the pods mount things. */}}
{{- define "lantern.dataDir" -}}/var/lib/lantern{{- end }}
{{- define "lantern.configDir" -}}/etc/lantern{{- end }}

{{/*
The lantern.toml keys the chart owns: the Kafka connection (from .Values.kafka), listen
addresses, and the paths of the mounted volume and secrets (the query pods' own files, audit
log and intake keys, are set per pod in lantern.env). JSON, read with fromJson; its keys
are checked against Lantern's config by tests/e2e/chart.rs.
*/}}
{{- define "lantern.ownedConfig" -}}
{{- $data := include "lantern.dataDir" . }}
{{- $etc := include "lantern.configDir" . }}
{
  "kafka": {
    "bootstrap_servers": {{ .Values.kafka.brokers | toJson }},
    "properties": {{ include "lantern.kafkaProperties" . | fromJson | toJson }}
  },
  "storage": {
    {{- with .Values.objectStorage.url }}"url": {{ toJson . }}, {{ end -}}
    "data_dir": {{ printf "%s/data" $data | toJson }}
  },
  "http": {"listen": {{ printf "0.0.0.0:%d" (int .Values.metricsPort) | toJson }}},
  "query": {
    "http_listen": {{ printf "0.0.0.0:%d" (int .Values.queryService.service.httpPort) | toJson }},
    "pg_listen": {{ printf "0.0.0.0:%d" (int .Values.queryService.service.pgPort) | toJson }},
    "users_file": {{ printf "%s/users/%s" $etc .Values.users.key | toJson }}
  },
  "disclosure": {{ if .Values.disclosureKey.existingSecret }}{"key_file": {{ printf "%s/disclosure/%s" $etc .Values.disclosureKey.key | toJson }}}{{ else }}{}{{ end }},
  "up": {"embedded_broker": false}
}
{{- end }}

{{/* librdkafka properties: .Values.kafka.properties plus TLS and SASL settings, as JSON. */}}
{{- define "lantern.kafkaProperties" -}}
{{- $properties := deepCopy .Values.kafka.properties }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.sasl.enabled }}
{{- $_ := set $properties "security.protocol" "SASL_SSL" }}
{{- else if .Values.kafka.tls.enabled }}
{{- $_ := set $properties "security.protocol" "SSL" }}
{{- else if .Values.kafka.sasl.enabled }}
{{- $_ := set $properties "security.protocol" "SASL_PLAINTEXT" }}
{{- end }}
{{- if .Values.kafka.sasl.enabled }}
{{- $_ := set $properties "sasl.mechanisms" .Values.kafka.sasl.mechanism }}
{{- $_ := set $properties "sasl.username" .Values.kafka.sasl.username }}
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
{{- $_ := set $properties "ssl.ca.location" (printf "%s/kafka-ca/%s" (include "lantern.configDir" .) .Values.kafka.tls.caKey) }}
{{- end }}
{{- toJson $properties }}
{{- end }}

{{/*
lantern.toml: .Values.config with the owned keys above over it. Scalars and lists are written
as JSON, which is valid TOML for strings, numbers, booleans and arrays; a map becomes a
[section.key] table of strings (librdkafka properties are strings).
*/}}
{{- define "lantern.toml" -}}
{{- $config := mergeOverwrite (deepCopy .Values.config) (include "lantern.ownedConfig" . | fromJson) }}
# Rendered by the Lantern chart from its values; lantern.toml in the repository documents each key.
{{- range $section, $keys := $config }}
{{- if $keys }}

[{{ $section }}]
{{- range $key, $value := $keys }}
{{- if not (kindIs "map" $value) }}
{{ $key }} = {{ toJson $value }}
{{- end }}
{{- end }}
{{- range $key, $value := $keys }}
{{- if kindIs "map" $value }}

[{{ $section }}.{{ $key }}]
{{- range $property, $setting := $value }}
{{ toJson $property }} = {{ toJson (toString $setting) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Refuses processor replica counts that would leave replicas without partitions. */}}
{{- define "lantern.checkReplicas" -}}
{{- $partitions := int .Values.kafka.partitions }}
{{- if gt (int .Values.processor.replicas) $partitions }}
{{- fail (printf "processor.replicas (%d) is more than kafka.partitions (%d): the extra replicas would own no partition" (int .Values.processor.replicas) $partitions) }}
{{- end }}
{{- if and .Values.processor.autoscaling.enabled (gt (int .Values.processor.autoscaling.maxReplicas) $partitions) }}
{{- fail (printf "processor.autoscaling.maxReplicas (%d) is more than kafka.partitions (%d)" (int .Values.processor.autoscaling.maxReplicas) $partitions) }}
{{- end }}
{{- end }}
