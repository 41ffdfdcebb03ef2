{{/*
The prefix of every object's name: the release's name (or fullnameOverride), so that the cluster-wide
objects of two releases do not collide. A release named longtask gets config/'s names.
*/}}
{{- define "longtask.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object: Helm's, beside the selector labels config/ has too. */}}
{{- define "longtask.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: longtask
{{- end -}}

{{/* The labels that select a component's pods: (list $ "manager"). */}}
{{- define "longtask.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: longtask-{{ index . 1 }}
app.kubernetes.io/instance: {{ $.Release.Name }}
{{- end -}}

{{/* A component's image reference: (list $ .Values.manager.image). */}}
{{- define "longtask.image" -}}
{{- $ := index . 0 -}}
{{- $image := index . 1 -}}
{{- $repository := $image.repository -}}
{{- with $.Values.image.registry }}{{ $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}{{ end -}}
{{- if $image.digest -}}
{{ $repository }}@{{ $image.digest }}
{{- else -}}
{{ $repository }}:{{ $image.tag | default $.Values.image.tag | default $.Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/*
The rules of a generated role: (list $ "files/manager-role.yaml" "ClusterRole"). make manifests copies
controller-gen's output from config/ into files/, so the chart's RBAC is config/'s and never written by hand.
*/}}
{{- define "longtask.generatedRules" -}}
{{- $ := index . 0 -}}
{{- $kind := index . 2 -}}
{{- range $doc := splitList "\n---\n" (printf "\n%s" ($.Files.Get (index . 1))) -}}
{{- $role := fromYaml $doc -}}
{{- if eq (toString $role.kind) $kind }}
{{- toYaml $role.rules }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Scheduling fields of a component's pod, from its values. */}}
{{- define "longtask.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
