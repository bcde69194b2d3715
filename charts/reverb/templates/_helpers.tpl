{{/*
Chart name, overridable.
*/}}
{{- define "reverb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Name of the Deployment and prefix of the other objects. Defaults to
`spin-echo` (values.yaml) so the chart replaces Halyard's Echo in place.
*/}}
{{- define "reverb.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "reverb.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "reverb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that pick this release's pods: the configurable Halyard-compatible
ones plus the standard name/instance pair, so two releases never overlap.
*/}}
{{- define "reverb.selectorLabels" -}}
{{- with .Values.selectorLabels }}
{{- toYaml . }}{{ "\n" }}
{{- end -}}
app.kubernetes.io/name: {{ include "reverb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "reverb.labels" -}}
{{ include "reverb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: spinnaker
app.kubernetes.io/component: notifications
helm.sh/chart: {{ include "reverb.chart" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "reverb.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "reverb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "reverb.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "reverb.configMapName" -}}
{{- printf "%s-config" (include "reverb.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "reverb.claimName" -}}
{{- default (printf "%s-store" (include "reverb.fullname" .) | trunc 63 | trimSuffix "-") .Values.persistence.existingClaim }}
{{- end }}

{{/*
True when config files come from an existing Secret or ConfigMap.
*/}}
{{- define "reverb.usesExistingConfig" -}}
{{- if or .Values.config.existingSecret .Values.config.existingConfigMap }}true{{ end }}
{{- end }}

{{/*
True when the chart renders its own echo-local.yml ConfigMap.
*/}}
{{- define "reverb.rendersConfigMap" -}}
{{- if not (include "reverb.usesExistingConfig" .) }}true{{ end }}
{{- end }}

{{/*
The echo-local.yml document: config.echoLocal plus reverb.echo.baseUrl for the
"in front of Echo" mode.
*/}}
{{- define "reverb.echoLocal" -}}
{{- $doc := deepCopy (default (dict) .Values.config.echoLocal) }}
{{- with .Values.echo.legacyBaseUrl }}
{{- $doc = mustMergeOverwrite $doc (dict "reverb" (dict "echo" (dict "baseUrl" .))) }}
{{- end }}
{{- if $doc }}{{ toYaml $doc }}{{ else }}{}{{ end }}
{{- end }}

{{/*
Every leaf key of a map as a dotted path, lower-cased with `-` and `_`
removed (Spring's relaxed binding), one per line, followed by what the value
is: `=set` for a literal, `=encrypted` for a kork-secrets reference, `=ref`
for a `${placeholder}` or an empty value.
Input: dict "prefix" "" "map" <map>.
*/}}
{{- define "reverb.flatKeys" -}}
{{- $prefix := .prefix }}
{{- range $key, $value := .map }}
{{- $path := printf "%s%s" $prefix ($key | toString | lower | replace "-" "" | replace "_" "") }}
{{- if kindIs "map" $value }}
{{- include "reverb.flatKeys" (dict "prefix" (printf "%s." $path) "map" $value) }}
{{- else }}
{{- $text := toString $value }}
{{- if or (kindIs "invalid" $value) (eq $text "") (hasPrefix "${" $text) }}
{{ $path }}=ref
{{- else if hasPrefix "encrypted" $text }}
{{ $path }}=encrypted
{{- else }}
{{ $path }}=set
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Refuse combinations that cannot work, and credentials in a ConfigMap.
*/}}
{{- define "reverb.validate" -}}
{{- /* The credential keys Reverb reads, slack.app.* falling back to slack.*. */}}
{{- $secretKeys := list "slack.token" "slack.app.token" "slack.signingsecret" "slack.app.signingsecret" "slack.verificationtoken" "slack.app.verificationtoken" }}
{{- $flat := include "reverb.flatKeys" (dict "prefix" "" "map" (default (dict) .Values.config.echoLocal)) | splitList "\n" }}
{{- range $line := $flat }}
{{- $parts := splitList "=" $line }}
{{- if and (eq (len $parts) 2) (has (index $parts 0) $secretKeys) }}
{{- if eq (index $parts 1) "set" }}
{{- fail (printf "config.echoLocal sets %s: Slack tokens and signing secrets must not be rendered into a ConfigMap. Put them in a Secret and set slack.existingSecret (keys slack.tokenKey, slack.signingSecretKey)." (index $parts 0)) }}
{{- else if eq (index $parts 1) "encrypted" }}
{{- fail (printf "config.echoLocal sets %s to a kork-secrets reference, which Reverb cannot decrypt. Put the value in a Secret and set slack.existingSecret." (index $parts 0)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (include "reverb.usesExistingConfig" .) .Values.config.echoLocal }}
{{- fail "config.echoLocal cannot be combined with config.existingSecret or config.existingConfigMap: both would provide files in /opt/spinnaker/config. Put the settings in that Secret's echo-local.yml, or use extraEnv with Spring-style variables." }}
{{- end }}
{{- if and .Values.pdb.enabled (eq (toString .Values.pdb.minAvailable) "<nil>") (eq (toString .Values.pdb.maxUnavailable) "<nil>") }}
{{- fail "pdb.enabled needs pdb.minAvailable or pdb.maxUnavailable." }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled .Values.metrics.podMonitor.enabled }}
{{- fail "Enable metrics.serviceMonitor or metrics.podMonitor, not both: Prometheus would scrape Reverb twice and every sum would double." }}
{{- end }}
{{- if and .Values.echo.legacyService.create (eq .Values.echo.legacyService.name .Values.service.name) }}
{{- fail "echo.legacyService.name must differ from service.name." }}
{{- end }}
{{- end }}

{{/*
One probe: httpGet on the named port, or Halyard's wget exec probe.
Input: dict "root" $ "probe" <probe values>.
*/}}
{{- define "reverb.probe" -}}
{{- $root := .root }}
{{- if $root.Values.probes.exec -}}
exec:
  command:
    - wget
    - --no-check-certificate
    - --spider
    - -q
    - {{ printf "http://localhost:%d%s" (int $root.Values.containerPort) $root.Values.probes.path }}
{{- else -}}
httpGet:
  path: {{ $root.Values.probes.path }}
  port: http
  scheme: HTTP
{{- end }}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- /* Kubernetes requires 1 for liveness and startup probes. */}}
successThreshold: {{ default 1 .probe.successThreshold }}
{{- end }}

{{/*
Label matchers used in every alert expression.
*/}}
{{- define "reverb.alertSelector" -}}
{{- default (printf "namespace=%q" .Release.Namespace) .Values.metrics.prometheusRule.selector }}
{{- end }}
