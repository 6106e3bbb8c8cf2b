{{/*
Names, labels and the per-service configuration every template shares.

A service's configuration is modelDefaults deep-merged with the service's own block
(.Values.ner, .Values.vision, .Values.orchestrator): maps merge key by key, anything else
(including false and 0) replaces. The local platform merges the same way.
*/}}

{{/*
"true" when the cluster serves an API group/version (a CRD's objects can be installed), or
global.assumeApis names it (or "*"): for rendering offline, or for a cluster whose CRDs come
with the same release. Usage: include "modelserve.hasApi" (list $ "keda.sh/v1alpha1")
*/}}
{{- define "modelserve.hasApi" -}}
{{- $root := index . 0 -}}{{- $api := index . 1 -}}
{{- $assumed := $root.Values.global.assumeApis | default list -}}
{{- if or ($root.Capabilities.APIVersions.Has $api) (has $api $assumed) (has "*" $assumed) -}}true{{- end -}}
{{- end -}}

{{- define "modelserve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "modelserve.labels" -}}
helm.sh/chart: {{ include "modelserve.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: modelserve
app.kubernetes.io/version: {{ .Values.global.imageTag | quote }}
{{- end -}}

{{/* Deep merge: (list dst src) copies src into dst; maps recurse, other values replace. */}}
{{- define "modelserve.deepMerge" -}}
{{- $dst := index . 0 -}}
{{- $src := index . 1 -}}
{{- range $k, $v := $src -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) -}}
{{- include "modelserve.deepMerge" (list (get $dst $k) $v) -}}
{{- else -}}
{{- $_ := set $dst $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Enabled services, in a fixed order, as a JSON list. */}}
{{- define "modelserve.services" -}}
{{- $out := list -}}
{{- range $svc := list "ner" "vision" "orchestrator" -}}
{{- if (index $.Values $svc).enabled -}}
{{- $out = append $out $svc -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
(list $ "ner" $cfg): fill the empty dict $cfg with the service's merged configuration plus
derived keys: name, namespace, envPrefix, kind (model|orchestrator), versions, host.
*/}}
{{- define "modelserve.serviceConfig" -}}
{{- $root := index . 0 -}}
{{- $svc := index . 1 -}}
{{- $cfg := index . 2 -}}
{{- $_ := include "modelserve.deepMerge" (list $cfg (deepCopy $root.Values.modelDefaults)) -}}
{{- $_ = include "modelserve.deepMerge" (list $cfg (deepCopy (index $root.Values $svc))) -}}
{{- $_ = set $cfg "name" $svc -}}
{{- if eq $svc "orchestrator" -}}
{{- $_ = set $cfg "namespace" $root.Values.namespaces.orchestrator -}}
{{- $_ = set $cfg "envPrefix" "MSAI_ORCH_" -}}
{{- $_ = set $cfg "kind" "orchestrator" -}}
{{- $_ = set $cfg "canary" (dict "enabled" false "weight" 0) -}}
{{- else -}}
{{- $_ = set $cfg "namespace" $root.Values.namespaces.models -}}
{{- $_ = set $cfg "envPrefix" (printf "MSAI_%s_" (upper $svc)) -}}
{{- $_ = set $cfg "kind" "model" -}}
{{- end -}}
{{- $versions := list "stable" -}}
{{- if $cfg.canary.enabled -}}
{{- $versions = append $versions "canary" -}}
{{- end -}}
{{- $_ = set $cfg "versions" $versions -}}
{{- $_ = set $cfg "host" (printf "%s.%s.svc.cluster.local" $svc $cfg.namespace) -}}
{{- $keda := $cfg.autoscaling.keda -}}
{{- $_ = set $cfg "useKeda" (and $keda.enabled (not $keda.httpAddon.enabled)) -}}
{{- $_ = set $cfg "useHttpAddon" (and $keda.enabled $keda.httpAddon.enabled) -}}
{{- $_ = set $cfg "useHpa" (and $cfg.autoscaling.hpa.enabled (not $keda.enabled)) -}}
{{- if and $cfg.useHttpAddon $cfg.canary.enabled -}}
{{- fail (printf "%s: canary.enabled and autoscaling.keda.httpAddon.enabled cannot be combined (the HTTP add-on interceptor routes to one Service, so weights would be lost)" $svc) -}}
{{- end -}}
{{- end -}}

{{/* (list $ $cfg "stable"|"canary"): the Deployment name. */}}
{{- define "modelserve.deploymentName" -}}
{{- $cfg := index . 1 -}}
{{- if eq (index . 2) "canary" -}}{{ $cfg.name }}-canary{{- else -}}{{ $cfg.name }}{{- end -}}
{{- end -}}

{{/* Selector labels of one service (all versions). */}}
{{- define "modelserve.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .kind }}
{{- end -}}

{{/* Image reference of a service: (list $ $cfg) or (list $ $cfg SUFFIX), the suffix
     naming a variant (gpu.imageSuffix on GPU nodes). */}}
{{- define "modelserve.image" -}}
{{- $root := index . 0 -}}
{{- $cfg := index . 1 -}}
{{- $suffix := "" -}}
{{- if gt (len .) 2 }}{{ $suffix = index . 2 }}{{ end -}}
{{- $reg := $root.Values.global.imageRegistry -}}
{{- if $reg -}}{{ trimSuffix "/" $reg }}/{{ end -}}{{ $cfg.image }}{{ $suffix }}:{{ $root.Values.global.imageTag }}
{{- end -}}

{{/* Seconds of a drain: preStop (endpoint propagation) + server drain delay + in-flight deadline + margin. */}}
{{- define "modelserve.terminationGrace" -}}
{{- $d := .drain -}}
{{- add (int $d.delaySeconds) (int $d.delaySeconds) (int $d.deadlineSeconds) 5 -}}
{{- end -}}

{{/* Service account name of a namespace. */}}
{{- define "modelserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}modelserve{{- else -}}default{{- end -}}
{{- end -}}

{{/* Redis URL and PostgreSQL host the orchestrator uses: a Service named redis / postgresql in
its namespace either way (a StatefulSet in-cluster, an ExternalName to ElastiCache/RDS). */}}
{{- define "modelserve.redisUrl" -}}
redis://redis.{{ .Values.namespaces.orchestrator }}.svc.cluster.local:{{ .Values.redis.port }}/0
{{- end -}}
{{- define "modelserve.postgresHost" -}}
postgresql.{{ .Values.namespaces.orchestrator }}.svc.cluster.local
{{- end -}}

{{/*
(list $ $cfg $rewrite): the body of one Istio HTTP route of a service (destinations with stable/canary
weights, timeout, retries, optional fault). The local platform's Envoy routes use the same
mesh values.
*/}}
{{- define "modelserve.httpRoute" -}}
{{- $root := index . 0 -}}
{{- $cfg := index . 1 -}}
{{- $rewrite := deepCopy (index . 2) -}}
{{- $m := $root.Values.mesh -}}
{{- if $cfg.useHttpAddon }}
{{- $_ := set $rewrite "authority" $cfg.host }}
{{- end }}
{{- with $rewrite }}
rewrite:
  {{- toYaml . | nindent 2 }}
{{- end }}
route:
{{- if $cfg.useHttpAddon }}
{{- $i := $cfg.autoscaling.keda.httpAddonInterceptor }}
  # Scaled to zero: through the KEDA HTTP add-on interceptor, which holds requests until a
  # replica is ready and routes by Host.
  - destination:
      host: {{ $i.service }}.{{ $i.namespace }}.svc.cluster.local
      port: {number: {{ $i.port | int }}}
{{- else }}
{{- $cw := ternary ($cfg.canary.weight | int) 0 $cfg.canary.enabled }}
  - destination:
      host: {{ $cfg.host }}
      subset: stable
      port: {number: {{ $cfg.port | int }}}
    weight: {{ sub 100 $cw }}
{{- if $cfg.canary.enabled }}
  - destination:
      host: {{ $cfg.host }}
      subset: canary
      port: {number: {{ $cfg.port | int }}}
    weight: {{ $cw }}
{{- end }}
{{- end }}
timeout: {{ $m.timeout }}
retries:
  attempts: {{ $m.retries.attempts | int }}
  perTryTimeout: {{ $m.retries.perTryTimeout }}
  retryOn: {{ $m.retries.retryOn | quote }}
{{- if $m.fault.enabled }}
fault:
  {{- if gt ($m.fault.delay.percent | float64) 0.0 }}
  delay:
    percentage: {value: {{ $m.fault.delay.percent }}}
    fixedDelay: {{ $m.fault.delay.fixedDelay }}
  {{- end }}
  {{- if gt ($m.fault.abort.percent | float64) 0.0 }}
  abort:
    percentage: {value: {{ $m.fault.abort.percent }}}
    httpStatus: {{ $m.fault.abort.httpStatus | int }}
  {{- end }}
{{- end }}
{{- end -}}
