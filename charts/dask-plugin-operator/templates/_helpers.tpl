{{/* The chart's name, shortened to fit a DNS label. */}}
{{- define "dpo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name; every object of the release is named after it. Kept to 55
characters so that the suffixes added below (-kopf, -application, -1) still fit in 63.
*/}}
{{- define "dpo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dpo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dpo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dpo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "dpo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "dpo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dpo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dpo.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "true" when the operator watches every namespace, "" when it watches a list. */}}
{{- define "dpo.clusterWide" -}}
{{- if not .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{/*
The command-line arguments of `dask-plugin-operator run`, except the peering ones, which
differ between the processes of a highly available installation.
*/}}
{{- define "dpo.args" -}}
{{- if include "dpo.clusterWide" . }}
- --all-namespaces
{{- else }}
{{- range (.Values.watchNamespaces | uniq) }}
- --namespace={{ . }}
{{- end }}
{{- end }}
{{- $level := .Values.logging.level }}
{{- if eq $level "quiet" }}
- --quiet
{{- else if eq $level "verbose" }}
- --verbose
{{- else if eq $level "debug" }}
- --debug
{{- else if ne $level "info" }}
{{- fail (printf "logging.level must be quiet, info, verbose or debug, not %q" $level) }}
{{- end }}
- --log-format={{ .Values.logging.format }}
- --liveness=http://0.0.0.0:{{ .Values.liveness.port }}{{ .Values.liveness.path }}
- --check-interval={{ .Values.checkInterval }}
- --concurrency={{ .Values.concurrency }}
- --rpc-timeout={{ .Values.rpcTimeout }}
- --deletion-timeout={{ .Values.deletionTimeout }}
- --metrics-port={{ if .Values.metrics.enabled }}{{ .Values.metrics.port }}{{ else }}0{{ end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
